"""The PostgreSQL backend: psycopg 3, a small connection pool, READ COMMITTED.

Connections. One probe connection at opening gives a fast, one-line error
(wrong password, server down, bad TLS) naming the database and host, never
the password; then a pool (``psycopg_pool``, 1 to ``pool_size``
connections, each checked when lent) serves the store. A transaction holds
one pooled connection from ``BEGIN`` to ``COMMIT``; a statement outside a
transaction borrows one for itself. Transaction state is per thread, so
threads may share one store, each with its own transactions.

Nothing relies on session state: connections are in autocommit mode with
explicit ``BEGIN``/``COMMIT``, prepared statements are off
(``prepare_threshold=None``), settings are ``SET LOCAL`` and the migration
lock is ``pg_advisory_xact_lock`` (released with its transaction). This is
what PgBouncer in transaction mode (DigitalOcean's connection pools) needs.

Isolation is PostgreSQL's default, READ COMMITTED. The repositories write
so that this suffices: compare-and-set updates (``... WHERE state = ?``),
upserts, and unique indexes (one rotation in flight per policy), each
re-checked by PostgreSQL on the newest row version; and a row lock on the
key check record around every write that seals a secret, which serialises
sealing with ``rotator rekey`` (see :mod:`rotator.store.keycheck`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from rotator.errors import StoreCorrupt, StoreError, StoreLocked, StoreNotInitialised
from rotator.store.database import Conflict, Row
from rotator.store.postgres_url import DatabaseUrl, one_line
from rotator.store.schema import SCHEMA_VERSION, TABLES

CONNECT_TIMEOUT = 10  # seconds to reach the server (unless the URL says otherwise)
POOL_WAIT = 30.0  # seconds a statement waits for a free pooled connection
LOCK_TIMEOUT = "30s"  # the most a statement in a transaction waits for another's locks
STATEMENT_TIMEOUT = "60s"  # the most one statement in a transaction may take
# The most a session may sit idle inside an open transaction before the server ends it.
# rotator's transactions never wait on anything but the database, so only a stalled
# process (SIGSTOP, a GC pause, a partition) reaches this; its row locks (a lease's, a
# rotation's) are then freed for the other replicas instead of holding them up.
IDLE_IN_TRANSACTION_TIMEOUT = "15s"
POOL_SIZE = 4
# The advisory lock key that serialises schema migrations ("rotator" in ASCII).
MIGRATION_LOCK = 0x726F7461746F72

Connection = psycopg.Connection[tuple[Any, ...]]


@lru_cache(maxsize=256)
def to_driver_sql(sql: str) -> str:
    """Portable ``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` as ``%%``).

    Quoted text and identifiers are copied as they are.
    """
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        if char == "%":
            out.append("%%")
            continue
        out.append(char)
    return "".join(out)


class _Rows:
    """A statement's whole answer (psycopg reads results whole anyway)."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = iter(rows)
        self._rowcount = rowcount

    @property
    def rowcount(self) -> int:
        return self._rowcount

    def fetchone(self) -> Row | None:
        return next(self._rows, None)

    def __iter__(self) -> Iterator[Row]:
        return self._rows


class _ThreadState(threading.local):
    connection: Connection | None = None
    depth = 0


class PostgresDatabase:
    """A rotator store in a PostgreSQL database (see :class:`~rotator.store.database.Database`)."""

    dialect = "postgresql"
    # The server's clock as it ticks (not now(), which stops at the transaction's start):
    # every replica's lease is measured by this one clock.
    now_sql = "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)"
    lock_timeout = LOCK_TIMEOUT
    idle_timeout = IDLE_IN_TRANSACTION_TIMEOUT

    def __init__(self, url: DatabaseUrl, pool: ConnectionPool[Connection]) -> None:
        self.url = url
        self.where = url.where
        self._pool = pool
        self._state = _ThreadState()

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.where})"

    @classmethod
    def open(
        cls, url: DatabaseUrl, *, create: bool, check: bool, pool_size: int = POOL_SIZE
    ) -> PostgresDatabase:
        """Connect, then refuse a database that is not (and is not to become) a rotator store."""
        options = _options(url)
        try:
            probe: Connection = psycopg.connect(url.reveal(), **options)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {url.where}: {_reason(url, exc)}") from None
        probe.close()
        pool: ConnectionPool[Connection] = ConnectionPool(
            url.reveal(),
            kwargs=options,
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            name=url.where,
            timeout=POOL_WAIT,
            check=ConnectionPool.check_connection,
        )
        try:
            pool.open(wait=True, timeout=POOL_WAIT)
        except PoolTimeout:
            pool.close()
            raise StoreError(
                f"cannot connect to {url.where} (no connection within {POOL_WAIT:.0f}s)"
            ) from None
        database = cls(url, pool)
        try:
            database._prepare(create=create, check=check)
        except BaseException:
            database.close()
            raise
        return database

    def _prepare(self, *, create: bool, check: bool) -> None:
        version = self.schema_version()
        tables: set[str] | None = None
        if version == 0:
            # Look at an uninitialised database under the migration lock, so a
            # concurrent `rotator init` is seen either not at all or finished.
            with self.transaction():
                self.lock_schema()
                version, tables = self.schema_version(), self._tables()
        if version > SCHEMA_VERSION:
            raise StoreCorrupt(
                f"{self.where} has schema version {version}, newer than this rotator knows "
                f"({SCHEMA_VERSION}); upgrade rotator"
            )
        if version == 0 and tables:
            raise StoreCorrupt(
                f"{self.where} has tables but is not a rotator store; refusing to touch it "
                "(give rotator a database of its own)"
            )
        if version == 0 and not create:
            raise StoreNotInitialised(f"no rotator store in {self.where}; run `rotator init` first")
        if check and version == SCHEMA_VERSION:
            missing = sorted(set(TABLES) - self._tables())
            if missing:
                raise StoreCorrupt(
                    f"{self.where} is damaged: table {', '.join(missing)} is missing"
                )

    def _tables(self) -> set[str]:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        return {str(row[0]) for row in self.execute(query)}

    # -- the Database protocol ---------------------------------------------------------

    def execute(self, sql: str, params: Sequence[object] = ()) -> _Rows:
        connection = self._state.connection
        if connection is not None:
            return self._run(connection, sql, params)
        with self._borrow() as borrowed:
            return self._run(borrowed, sql, params)

    def _run(self, connection: Connection, sql: str, params: Sequence[object] = ()) -> _Rows:
        try:
            cursor = connection.execute(to_driver_sql(sql), tuple(params))
            rows = cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as exc:
            raise self._translate(exc) from None
        return _Rows(rows, cursor.rowcount)

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[Connection]:
        try:
            with self._pool.connection() as connection:
                yield connection
        except PoolTimeout:
            raise StoreError(
                f"no connection to {self.where} within {POOL_WAIT:.0f}s "
                "(the server is down or every connection is busy)"
            ) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        state = self._state
        if state.depth:
            state.depth += 1
            try:
                yield
            finally:
                state.depth -= 1
            return
        with self._borrow() as connection:
            self._begin(connection)
            state.connection, state.depth = connection, 1
            try:
                yield
            except BaseException:
                state.connection, state.depth = None, 0
                with contextlib.suppress(psycopg.Error):
                    connection.execute("ROLLBACK")
                raise
            state.connection, state.depth = None, 0
            if connection.info.transaction_status == TransactionStatus.INERROR:
                # A statement failed and someone went on: PostgreSQL has dropped it all.
                with contextlib.suppress(psycopg.Error):
                    connection.execute("ROLLBACK")
                raise StoreError(f"{self.where}: a statement failed; nothing was written")
            self._run(connection, "COMMIT")

    def _begin(self, connection: Connection) -> None:
        # One round trip; SET LOCAL ends with the transaction, so no session keeps it.
        try:
            connection.execute(
                f"BEGIN; SET LOCAL lock_timeout = '{self.lock_timeout}'; "
                f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'; "
                f"SET LOCAL idle_in_transaction_session_timeout = '{self.idle_timeout}'"
            )
        except psycopg.Error as exc:
            raise self._translate(exc) from None

    def close(self) -> None:
        self._pool.close(timeout=5.0)

    # -- what differs between backends -----------------------------------------------

    def schema_version(self) -> int:
        # A catalog query, not to_regclass(): that reads the session's catalog cache,
        # which may not yet know of a table another session created since.
        if "meta" not in self._tables():
            return 0
        row = self.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            return 0
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise StoreCorrupt(f"{self.where}: meta.schema_version is not a number") from None

    def set_schema_version(self, version: int) -> None:
        self.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(int(version)),),
        )

    def lock_schema(self) -> None:
        """Inside a transaction: wait (``lock_timeout`` at most) until no other process migrates."""
        if not self._state.depth:
            raise RuntimeError("lock_schema() outside a transaction")
        self.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))

    def _translate(self, exc: psycopg.Error) -> StoreError:
        text = _reason(self.url, exc)
        if isinstance(exc, psycopg.IntegrityError):
            return Conflict(f"{self.where}: {text}")
        if isinstance(
            exc,
            pgerrors.LockNotAvailable
            | pgerrors.QueryCanceled
            | pgerrors.DeadlockDetected
            | pgerrors.SerializationFailure,
        ):
            return StoreLocked(f"{self.where} stayed busy ({text}); try again")
        if isinstance(exc, pgerrors.InsufficientPrivilege):
            return StoreError(f"{self.where}: permission denied ({text})")
        if isinstance(exc, pgerrors.DiskFull | pgerrors.OutOfMemory):
            return StoreError(f"{self.where}: the server is out of space ({text})")
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return StoreError(f"lost the connection to {self.where} ({text})")
        if isinstance(exc, psycopg.ProgrammingError | psycopg.DataError):
            return StoreCorrupt(f"{self.where} is damaged or not a rotator store ({text})")
        return StoreError(f"{self.where}: {text}")


def _options(url: DatabaseUrl) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    options: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}
    if "connect_timeout" not in conninfo_to_dict(url.reveal()):
        options["connect_timeout"] = CONNECT_TIMEOUT
    return options


def _reason(url: DatabaseUrl, exc: BaseException) -> str:
    """The driver's message on one line, without the password."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return url.scrub(one_line(primary or str(exc) or type(exc).__name__))
