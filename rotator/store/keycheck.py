"""The key check record (``meta.keycheck``): which master key the store is sealed under.

A known text sealed with the master key: opening it proves, before anything
else is read, that the key given is the store's. It is also the row that
serialises sealing with re-keying. ``rotator rekey`` locks it first and
rewrites it last, in the one transaction that re-seals everything; every
write that seals a secret first locks it too (:func:`hold_key_check`) and
checks that the store is still sealed under a key this process holds. With
several processes on PostgreSQL this is what keeps a secret sealed with the
old key from landing after a re-key committed: the writer waits for the
re-key, then sees the new key id and stops with a clear error instead.
(SQLite gets the same order from ``BEGIN IMMEDIATE``; the statement costs it
nothing.)
"""

from __future__ import annotations

from rotator.crypto import Keyring
from rotator.errors import MasterKeyError, RecordTampered, StoreCorrupt
from rotator.secret import Secret
from rotator.store.database import Database

KEYCHECK_IDENTITY = "meta/keycheck"
KEYCHECK_TEXT = "rotator keycheck"


def seal_key_check(keyring: Keyring) -> str:
    return keyring.seal(Secret(KEYCHECK_TEXT), KEYCHECK_IDENTITY)


def check_key(db: Database, keyring: Keyring) -> None:
    """Fail fast, with a clear message, when the master key is not this store's."""
    row = db.execute("SELECT value FROM meta WHERE key = 'keycheck'").fetchone()
    if row is None:
        raise StoreCorrupt(f"{db.where} has no key check record")
    if keyring.open(row[0], KEYCHECK_IDENTITY).reveal() != KEYCHECK_TEXT:
        raise RecordTampered("the store's key check record is wrong")


def hold_key_check(db: Database, keyring: Keyring) -> None:
    """Inside a transaction about to seal: lock the key check, and refuse a foreign key.

    The lock is held until the transaction ends, so a re-key either finished
    before (and is seen here) or starts after this write is committed (and
    re-seals it).
    """
    rows = list(db.execute("UPDATE meta SET value = value WHERE key = 'keycheck' RETURNING value"))
    if not rows:
        raise StoreCorrupt(f"{db.where} has no key check record")
    key_id = keyring.key_id_of(rows[0][0])
    if key_id not in keyring.key_ids:
        raise MasterKeyError(
            f"the store was re-keyed (it is now sealed with key id {key_id}; this process "
            f"has key id {keyring.primary.key_id}): restart it with the new master key"
        )
