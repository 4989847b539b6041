"""``rotator init`` and ``rotator rekey``: the state directory and the master key."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rotator.context import Context, pending_key_path
from rotator.crypto import Keyring, MasterKey, load_master_key, write_key_file
from rotator.errors import MasterKeyError, UsageError
from rotator.store import Store, check_state_dir


def init(args: argparse.Namespace, ctx: Context) -> int:
    """Create the state directory, the master key file (if absent) and the store."""
    settings = ctx.settings
    if settings.database_url is not None:
        return _init_postgres(ctx)
    check_state_dir(settings.state_dir)  # before a key file is written into it
    created_key = False
    if settings.master_key is None and not settings.master_key_file.exists():
        if settings.store_path.exists():
            raise MasterKeyError(
                f"a store exists at {settings.store_path} but its master key file "
                f"{settings.master_key_file} is missing; restore the key from your backup "
                "(a new key would not open the store)"
            )
        write_key_file(settings.master_key_file, MasterKey.generate_text())
        created_key = True
    keyring = ctx.keyring()
    existed = settings.store_path.exists()
    with Store.create(settings.state_dir, keyring, now=ctx.now) as store:
        if not existed:
            store.history.log("store_created", "store", "ok", key_id=keyring.primary.key_id)
    out = ctx.stdout
    source = "ROTATOR_MASTER_KEY" if settings.master_key else str(settings.master_key_file)
    out.write(f"state directory: {settings.state_dir}\n")
    out.write(
        f"master key:      {source} ({'created' if created_key else 'existing'}, "
        f"key id {keyring.primary.key_id})\n"
    )
    out.write(f"store:           {settings.store_path} ({'existing' if existed else 'created'})\n")
    if created_key:
        out.write("Back up the master key file: without it the store cannot be opened.\n")
    return 0


def _init_postgres(ctx: Context) -> int:
    """``init`` with ``ROTATOR_DATABASE_URL``: the schema in that database, the key as usual."""
    settings = ctx.settings
    created_key = False
    if settings.master_key is None and not settings.master_key_file.exists():
        check_state_dir(settings.state_dir)  # before a key file is written into it
        write_key_file(settings.master_key_file, MasterKey.generate_text())
        created_key = True
    keyring = ctx.keyring()
    try:
        store = Store.create(
            settings.state_dir, keyring, now=ctx.now, database_url=settings.database_url
        )
    except MasterKeyError:
        if created_key:
            # The database holds a store sealed with another key: this new key is no use.
            settings.master_key_file.unlink(missing_ok=True)
            raise MasterKeyError(
                "the database already holds a rotator store sealed with another master key; "
                f"restore that key (into {settings.master_key_file}, or ROTATOR_MASTER_KEY)"
            ) from None
        raise
    with store:
        if store.created:
            store.history.log("store_created", "store", "ok", key_id=keyring.primary.key_id)
    out = ctx.stdout
    source = "ROTATOR_MASTER_KEY" if settings.master_key else str(settings.master_key_file)
    out.write(
        f"master key:      {source} ({'created' if created_key else 'existing'}, "
        f"key id {keyring.primary.key_id})\n"
    )
    out.write(f"store:           {store.where} ({'created' if store.created else 'existing'})\n")
    if created_key:
        out.write("Back up the master key file: without it the store cannot be opened.\n")
    return 0


def rekey(args: argparse.Namespace, ctx: Context) -> int:
    """Re-seal every secret under a new master key, in one transaction."""
    settings = ctx.settings
    from_env = settings.master_key is not None
    replaceable = not from_env and os.access(settings.master_key_file.parent, os.W_OK)
    if not replaceable and args.new_key_file is None:
        raise UsageError(
            "the master key is not in a file rotator can replace; "
            "pass --new-key-file PATH to receive the new key, then install it yourself"
        )
    new_path: Path = args.new_key_file or pending_key_path(settings.master_key_file)
    if not new_path.exists():
        write_key_file(new_path, MasterKey.generate_text())
    new_key = load_master_key(value=None, path=new_path)
    old_keyring = ctx.keyring()
    if new_key.key_id == old_keyring.primary.key_id:
        raise MasterKeyError(f"{new_path} holds the current master key; nothing to do")
    with Store.open(
        settings.state_dir,
        old_keyring,
        writer=True,
        exclusive=True,
        check=True,
        now=ctx.now,
        database_url=settings.database_url,
    ) as store:
        count = store.reseal_all(Keyring(new_key))
    out = ctx.stdout
    out.write(
        f"re-sealed {count} records under key id {new_key.key_id} "
        f"(was {old_keyring.primary.key_id})\n"
    )
    if args.new_key_file is None:
        # The store already needs the new key; the old file is kept until this
        # rename, so a crash in between leaves both keys on disk and working.
        new_path.replace(settings.master_key_file)
        out.write(f"master key file {settings.master_key_file} now holds the new key\n")
    else:
        out.write(
            f"install the new key from {new_path} "
            f"({'ROTATOR_MASTER_KEY' if from_env else settings.master_key_file}) "
            "before rotator next starts: the old key no longer opens the store\n"
        )
    return 0
