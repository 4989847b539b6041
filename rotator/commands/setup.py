"""``rotator init`` and ``rotator rekey``: the state directory and the master key."""

from __future__ import annotations

import argparse

from rotator.services import setup
from rotator.services.context import Context


def init(args: argparse.Namespace, ctx: Context) -> int:
    """Create the state directory, the master key file (if absent) and the store."""
    done = setup.initialise(ctx)
    out = ctx.stdout
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
