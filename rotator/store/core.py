"""The open store: its repositories, its transactions, opening and re-keying.

SQLite (the default): one file, ``<state dir>/rotator.db`` (mode 0600,
directory 0700, WAL). A process that writes takes a ``flock`` on
``rotator.lock`` for as long as it works (shared between writers; exclusive
for ``init`` and ``rekey``), so re-keying never races a writer. Readers need
no lock (WAL lets them read while a writer works).

PostgreSQL (``database_url``): no file and no file lock. Migrations run
under a transaction-level advisory lock, writers are kept apart by row locks
and transactions, and a re-key is one transaction that holds the key check
row (:mod:`rotator.store.keycheck`), so it runs while other processes work.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from rotator.crypto import Keyring
from rotator.errors import RecordTampered, StoreError, StoreNotInitialised
from rotator.secret import Secret
from rotator.store.budgets import Budgets
from rotator.store.codec import encode_time, utc_now
from rotator.store.conditions import Conditions
from rotator.store.connections import Connections
from rotator.store.database import Clock, Database
from rotator.store.history import History
from rotator.store.keycheck import check_key, hold_key_check, seal_key_check
from rotator.store.leases import Leases
from rotator.store.lock import WriterLock, check_state_dir
from rotator.store.outbox import Outbox
from rotator.store.rotations import Rotations
from rotator.store.schema import SCHEMA_VERSION, SEALED_COLUMNS, statements
from rotator.store.scopes import ScopeReports
from rotator.store.sqlite import SqliteDatabase

STORE_FILE = "rotator.db"
LOCK_FILE = "rotator.lock"


class Store:
    """The open store. Use :meth:`open` (or :meth:`create` from ``rotator init``).

    Its repositories, one per table (or group of tables kept together):
    ``connections``, ``scopes``, ``rotations``, ``outbox``, ``conditions``,
    ``history`` (the audit log), ``leases`` (leases, fencing tokens and
    the replicas' heartbeats) and ``budgets`` (each token's rate budget,
    shared by the replicas). Wrap calls to several of them in
    :meth:`transaction` to commit them together.
    """

    def __init__(
        self,
        db: Database,
        path: Path | None,
        keyring: Keyring,
        lock: WriterLock | None,
        now: Clock,
    ) -> None:
        self._db = db
        self.path = path  # the SQLite file; None on PostgreSQL
        self.where = db.where  # the store as messages name it (never a password)
        self.created = False  # this opening made a new store (schema from nothing)
        self.keyring = keyring
        self._lock = lock
        self.now = now
        self.history = History(db, now)
        self.connections = Connections(db, self.history, now, self._current_keyring)
        self.scopes = ScopeReports(db, self.history, self.connections)
        self.rotations = Rotations(db, self.history, now, self._current_keyring)
        self.outbox = Outbox(db)
        self.conditions = Conditions(db)
        self.leases = Leases(db)
        self.budgets = Budgets(db)

    def _current_keyring(self) -> Keyring:
        return self.keyring

    # -- opening -----------------------------------------------------------

    @classmethod
    def create(
        cls,
        state_dir: Path,
        keyring: Keyring,
        *,
        now: Clock = utc_now,
        database_url: Secret | None = None,
    ) -> Store:
        """Create (or open and check) the store for writing; safe to run twice.

        An empty store file (zero bytes) is set up as a new store; with a
        ``database_url``, an empty PostgreSQL database is.
        """
        if database_url is not None:
            return cls._open_postgres(database_url, keyring, create=True, check=True, now=now)
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {state_dir}: {exc.strerror or exc}") from None
        check_state_dir(state_dir)
        path = state_dir / STORE_FILE
        try:
            state_dir.chmod(0o700)
            if not os.path.lexists(path):
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                os.close(os.open(path, flags, 0o600))
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from None
        return cls._open(state_dir, keyring, writer=True, exclusive=True, create=True, now=now)

    @classmethod
    def open(
        cls,
        state_dir: Path,
        keyring: Keyring,
        *,
        writer: bool,
        exclusive: bool = False,
        check: bool = False,
        now: Clock = utc_now,
        database_url: Secret | None = None,
        pool_size: int | None = None,
    ) -> Store:
        """Open an existing store; a ``writer`` takes the writer lock first.

        ``exclusive`` (rekey) keeps every other writer out; ordinary writers
        share the lock. ``check`` reads the whole file for damage
        (``PRAGMA quick_check``): for ``init``, ``rekey`` and daemon start,
        not for every command. With a ``database_url`` the store is that
        PostgreSQL database (``state_dir``, ``writer`` and ``exclusive`` play
        no part: transactions and row locks keep writers apart), served by a
        pool of up to ``pool_size`` connections.
        """
        if database_url is not None:
            return cls._open_postgres(
                database_url, keyring, create=False, check=check, now=now, pool_size=pool_size
            )
        return cls._open(
            state_dir, keyring, writer=writer, exclusive=exclusive, check=check, now=now
        )

    @classmethod
    def _open(
        cls,
        state_dir: Path,
        keyring: Keyring,
        *,
        writer: bool,
        exclusive: bool,
        now: Clock,
        create: bool = False,
        check: bool = True,
    ) -> Store:
        check_state_dir(state_dir)
        path = state_dir / STORE_FILE
        if not os.path.lexists(path):
            raise StoreNotInitialised(f"no store at {path}; run `rotator init` first")
        lock_path = state_dir / LOCK_FILE
        lock = WriterLock(lock_path, exclusive=exclusive) if writer else None
        if lock is not None:
            lock.acquire()
        db: SqliteDatabase | None = None
        try:
            db = SqliteDatabase.open(path, writer=writer, create=create, check=check)
            store = cls(db, path, keyring, lock, now)
            if db.schema_version() < SCHEMA_VERSION:
                # A reader after an upgrade migrates too, under the writer lock.
                migration_lock = None if writer else WriterLock(lock_path, exclusive=False)
                store._migrate(migration_lock)
            check_key(db, keyring)
        except BaseException:
            if db is not None:
                db.close()
            if lock is not None:
                lock.release()
            raise
        return store

    @classmethod
    def _open_postgres(
        cls,
        database_url: Secret,
        keyring: Keyring,
        *,
        create: bool,
        check: bool,
        now: Clock,
        pool_size: int | None = None,
    ) -> Store:
        # Imported here: the driver loads only for a PostgreSQL store.
        from rotator.store.postgres_url import DatabaseUrl
        from rotator.store.postgresql import POOL_SIZE, PostgresDatabase

        db = PostgresDatabase.open(
            DatabaseUrl(database_url), create=create, check=check, pool_size=pool_size or POOL_SIZE
        )
        try:
            store = cls(db, None, keyring, None, now)
            if db.schema_version() < SCHEMA_VERSION:
                store._apply_migrations()  # under the database's own migration lock
            check_key(db, keyring)
        except BaseException:
            db.close()
            raise
        return store

    def _migrate(self, lock: WriterLock | None) -> None:
        if lock is not None:
            lock.acquire()
        try:
            self._apply_migrations()
        finally:
            if lock is not None:
                lock.release()

    def _apply_migrations(self) -> None:
        with self._db.transaction():
            self._db.lock_schema()  # two processes starting together: one migrates
            version = self._db.schema_version()  # again: another process may have done it
            for number in range(version, SCHEMA_VERSION):
                for statement in statements(number, self._db.dialect):
                    self._db.execute(statement)
            self._db.set_schema_version(SCHEMA_VERSION)
            if version == 0:
                self.created = True
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('keycheck', ?), ('created_at', ?)",
                    (seal_key_check(self.keyring), encode_time(self.now())),
                )

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write across repositories: all of it lands or none of it does."""
        with self._db.transaction():
            yield

    # -- master key rotation ----------------------------------------------

    def reseal_all(self, new_keyring: Keyring) -> int:
        """Re-seal every secret under ``new_keyring`` in one transaction.

        Any record that fails to open stops the whole re-seal before it
        commits, so the store is never left half under each key.
        """
        count = 0
        with self._db.transaction():
            # First: writers that seal wait for this transaction, then see the new key.
            hold_key_check(self._db, self.keyring)
            for table, column, prefix, suffix in SEALED_COLUMNS:
                rows = list(
                    self._db.execute(
                        f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL"  # noqa: S608
                    )
                )
                for record_id, sealed in rows:
                    identity = f"{prefix}/{record_id}/{suffix}"
                    try:
                        plaintext = self.keyring.open(sealed, identity)
                    except RecordTampered as exc:
                        raise RecordTampered(
                            f"{identity}: its sealed value failed authentication; "
                            "nothing was re-sealed"
                        ) from exc
                    self._db.execute(
                        f"UPDATE {table} SET {column} = ? WHERE id = ?",  # noqa: S608
                        (new_keyring.seal(plaintext, identity), record_id),
                    )
                    count += 1
            self._db.execute(
                "UPDATE meta SET value = ? WHERE key = 'keycheck'",
                (seal_key_check(new_keyring),),
            )
            self.history.log(
                "store_rekeyed",
                "store",
                "ok",
                old_key_id=self.keyring.primary.key_id,
                new_key_id=new_keyring.primary.key_id,
                records=count,
            )
        self.keyring = new_keyring
        return count

    def sealed_key_ids(self) -> set[str]:
        """The key ids that sealed anything in the store."""
        query = "SELECT value FROM meta WHERE key = 'keycheck'"
        values = [row[0] for row in self._db.execute(query)]
        for table, column, _, _ in SEALED_COLUMNS:
            query = f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"  # noqa: S608
            values += [row[0] for row in self._db.execute(query)]
        return {self.keyring.key_id_of(value) for value in values}
