"""``rotator init`` and ``rotator rekey``: the state directory and the master key."""

from __future__ import annotations

import argparse
from typing import Any

from rotator.output import print_json
from rotator.services import setup
from rotator.services.context import Context


def init(args: argparse.Namespace, ctx: Context) -> int:
    """Create the state directory, the master key file (if absent) and the store."""
    done = setup.initialise(ctx)
    out = ctx.stdout
    if args.json:
        print_json(_initialised_json(done, ctx), out)
        return 0
    out.write(f"state directory: {done.state_dir}\n")
    out.write(
        f"master key:      {done.key_source} ({'created' if done.key_created else 'existing'}, "
        f"key id {done.key_id})\n"
    )
    out.write(
        f"store:           {done.store_path} ({'existing' if done.store_existed else 'created'})\n"
    )
    if done.key_created:
        out.write("Back up the master key file: without it the store cannot be opened.\n")
    return 0


def rekey(args: argparse.Namespace, ctx: Context) -> int:
    """Re-seal every secret under a new master key, in one transaction."""
    done = setup.rekey(ctx, args.new_key_file)
    out = ctx.stdout
    if args.json:
        print_json(_rekeyed_json(done, ctx), out)
        return 0
    out.write(
        f"re-sealed {done.count} records under key id {done.new_key_id} (was {done.old_key_id})\n"
    )
    settings = ctx.settings
    if done.installed:
        out.write(f"master key file {settings.master_key_file} now holds the new key\n")
    else:
        where = (
            "ROTATOR_MASTER_KEY" if settings.master_key is not None else settings.master_key_file
        )
        out.write(
            f"install the new key from {done.new_key_path} ({where}) "
            "before rotator next starts: the old key no longer opens the store\n"
        )
    return 0


def _initialised_json(done: setup.Initialised, ctx: Context) -> dict[str, Any]:
    """``init --json``: where everything is and what this run created."""
    settings = ctx.settings
    from_env = settings.master_key is not None
    created = [str(settings.master_key_file)] if done.key_created else []
    created += [] if done.store_existed else [str(done.store_path)]
    return {
        "state_dir": str(done.state_dir),
        "store": str(done.store_path),
        "master_key_file": None if from_env else str(settings.master_key_file),
        "master_key_source": "environment" if from_env else "file",
        "key_id": done.key_id,
        "created": created,
    }


def _rekeyed_json(done: setup.Rekeyed, ctx: Context) -> dict[str, Any]:
    """``rekey --json``: how many records were re-sealed, under which key, what is left to do."""
    settings = ctx.settings
    return {
        "resealed": done.count,
        "key_id": done.new_key_id,
        "previous_key_id": done.old_key_id,
        "new_key_file": str(done.new_key_path),
        "installed": done.installed,
        "master_key_file": None
        if settings.master_key is not None
        else str(settings.master_key_file),
        "action_needed": None
        if done.installed
        else f"install the new key from {done.new_key_path} before rotator next starts",
    }
