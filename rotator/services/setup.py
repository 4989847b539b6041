"""``rotator init`` and ``rotator rekey``: the state directory, the master key, the store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rotator.crypto import Keyring, MasterKey, load_master_key, write_key_file
from rotator.errors import MasterKeyError, StoreError, UsageError
from rotator.services.context import pending_key_path
from rotator.store import Store, check_state_dir

if TYPE_CHECKING:
    from rotator.services.context import Context


@dataclass(frozen=True)
class Initialised:
    """What ``rotator init`` found or made."""

    state_dir: Path
    key_source: str
    key_created: bool
    key_id: str
    store_path: str
    """Where the store is, as messages name it (a file, or a database without its password)."""
    store_existed: bool


@dataclass(frozen=True)
class Rekeyed:
    """What ``rotator rekey`` did."""

    count: int
    old_key_id: str
    new_key_id: str
    new_key_path: Path
    installed: bool
    """True when the key file now holds the new key; else the operator installs it."""


def initialise(ctx: Context) -> Initialised:
    """Create the state directory, the master key file (if absent) and the store."""
    settings = ctx.settings
    if settings.database_url is not None:
        return _initialise_postgres(ctx)
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
    store = Store.create(settings.state_dir, keyring, now=ctx.now)
    return _initialised(ctx, store, keyring, created_key, created=not existed)


def _initialise_postgres(ctx: Context) -> Initialised:
    """``init`` with ``ROTATOR_DATABASE_URL``: the schema in that database, the key as usual."""
    settings = ctx.settings
    created_key = False
    # The state directory keeps the daemon's lock files even when the store is elsewhere.
    try:
        settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {settings.state_dir}: {exc.strerror or exc}") from None
    check_state_dir(settings.state_dir)
    if settings.master_key is None and not settings.master_key_file.exists():
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
    return _initialised(ctx, store, keyring, created_key, created=store.created)


def _initialised(
    ctx: Context, store: Store, keyring: Keyring, created_key: bool, *, created: bool
) -> Initialised:
    """Close the new (or existing) *store*, logging its creation, and say what ``init`` did."""
    settings = ctx.settings
    with store:
        if created:
            store.history.log("store_created", "store", "ok", key_id=keyring.primary.key_id)
    source = "ROTATOR_MASTER_KEY" if settings.master_key else str(settings.master_key_file)
    return Initialised(
        settings.state_dir, source, created_key, keyring.primary.key_id, store.where, not created
    )


def rekey(ctx: Context, new_key_file: Path | None) -> Rekeyed:
    """Re-seal every secret under a new master key, in one transaction."""
    settings = ctx.settings
    from_env = settings.master_key is not None
    replaceable = not from_env and os.access(settings.master_key_file.parent, os.W_OK)
    if not replaceable and new_key_file is None:
        raise UsageError(
            "the master key is not in a file rotator can replace; "
            "pass --new-key-file PATH to receive the new key, then install it yourself"
        )
    new_path: Path = new_key_file or pending_key_path(settings.master_key_file)
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
    if new_key_file is None:
        # The store already needs the new key; the old file is kept until this
        # rename, so a crash in between leaves both keys on disk and working.
        new_path.replace(settings.master_key_file)
    return Rekeyed(
        count, old_keyring.primary.key_id, new_key.key_id, new_path, new_key_file is None
    )
