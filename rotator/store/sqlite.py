"""The SQLite backend: one file, WAL, the schema version in ``PRAGMA user_version``.

Opening looks before it touches: a file that is empty, not SQLite, or
SQLite without rotator's schema is refused before anything (the journal
mode included) is written to it. ``PRAGMA quick_check`` reads the whole
file, so it runs only when asked (``init``, ``rekey``, daemon start).
Driver errors leave as :mod:`rotator.errors`, each one line naming the file.
"""

from __future__ import annotations

import contextlib
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from rotator.errors import StoreCorrupt, StoreError, StoreLocked, StoreNotInitialised
from rotator.store.database import Conflict, Row
from rotator.store.schema import SCHEMA_VERSION

MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT = 10.0  # seconds a statement waits for another process's write


def translate(path: Path, exc: sqlite3.Error) -> StoreError:
    """The rotator error for a driver error on the store at ``path``."""
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, sqlite3.IntegrityError):
        return Conflict(f"{path}: {text}")
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(f"{path} is read-only ({text}); rotator must be able to write it")
    if "locked" in lowered or "busy" in lowered:
        return StoreLocked(f"{path} stayed busy for {BUSY_TIMEOUT:.0f}s ({text}); try again")
    if "full" in lowered:
        return StoreError(f"{path}: the disk is full ({text}); nothing was changed")
    if "unable to open" in lowered or "disk i/o" in lowered:
        return StoreError(f"cannot use {path} ({text})")
    return StoreCorrupt(f"{path} is damaged or not a rotator store (sqlite: {text})")


class _Rows:
    """A cursor whose errors are translated as its rows are read."""

    def __init__(self, path: Path, cursor: sqlite3.Cursor) -> None:
        self._path = path
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Row | None:
        try:
            row: Row | None = self._cursor.fetchone()
        except sqlite3.Error as exc:
            raise translate(self._path, exc) from exc
        return row

    def __iter__(self) -> Iterator[Row]:
        while (row := self.fetchone()) is not None:
            yield row


class SqliteDatabase:
    """An open SQLite store file (see :class:`rotator.store.database.Database`)."""

    dialect = "sqlite"
    # SQLite's own clock (the host's: one host shares an SQLite store); 'now' is fixed
    # for the length of one statement.
    now_sql = (
        "(CAST(strftime('%s', 'now') AS INTEGER) * 1000 "
        "+ CAST(substr(strftime('%f', 'now'), 4) AS INTEGER))"
    )

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.where = str(path)
        self._connection = connection
        self._depth = 0

    @classmethod
    def open(cls, path: Path, *, writer: bool, create: bool, check: bool) -> SqliteDatabase:
        """Open the store file, refusing what is not a rotator store before writing to it.

        ``create`` (``rotator init``) accepts an empty file and leaves it at
        schema version 0 for the caller to migrate.
        """
        size = _regular_size(path)
        if size == 0 and not create:
            raise StoreCorrupt(f"{path} is empty (zero bytes); run `rotator init` to set it up")
        if size:
            _check_magic(path)
        try:
            connection = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)
        except sqlite3.Error as exc:
            raise translate(path, exc) from exc
        database = cls(path, connection)
        try:
            database._prepare(writer=writer, create=create, check=check)
        except BaseException:
            connection.close()
            raise
        return database

    def _prepare(self, *, writer: bool, create: bool, check: bool) -> None:
        self.execute("PRAGMA foreign_keys = ON")
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreCorrupt(
                f"{self.path} has schema version {version}, newer than this rotator knows "
                f"({SCHEMA_VERSION}); upgrade rotator"
            )
        tables = {str(row[0]) for row in self.execute("SELECT name FROM sqlite_master")}
        if version == 0 and tables:
            raise StoreCorrupt(
                f"{self.path} is an SQLite database but not a rotator store; "
                "refusing to touch it (move it away, then run `rotator init`)"
            )
        if version == 0 and not create:
            raise StoreCorrupt(f"{self.path} is not a rotator store; run `rotator init`")
        if version > 0 and "meta" not in tables:
            raise StoreCorrupt(f"{self.path} is not a rotator store (it has no meta table)")
        if check:
            result = self.execute("PRAGMA quick_check(1)").fetchone()
            if result is None or result[0] != "ok":
                found = "no answer" if result is None else result[0]
                raise StoreCorrupt(f"{self.path} is damaged (sqlite: {found})")
        if writer:
            self.execute("PRAGMA journal_mode = WAL")

    # -- the Database protocol ---------------------------------------------------------

    def execute(self, sql: str, params: Sequence[object] = ()) -> _Rows:
        try:
            return _Rows(self.path, self._connection.execute(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise translate(self.path, exc) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
            raise
        self._depth = 0
        self.execute("COMMIT")

    def close(self) -> None:
        self._connection.close()

    # -- what differs between backends -----------------------------------------------

    def schema_version(self) -> int:
        row = self.execute("PRAGMA user_version").fetchone()
        return int(row[0]) if row else 0

    def set_schema_version(self, version: int) -> None:
        self.execute(f"PRAGMA user_version = {int(version)}")

    def lock_schema(self) -> None:
        """Nothing more to take: ``BEGIN IMMEDIATE`` and the writer lock keep others out."""


def _regular_size(path: Path) -> int:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise StoreNotInitialised(f"no store at {path}; run `rotator init` first") from None
    except OSError as exc:
        raise StoreError(f"cannot use {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise StoreError(f"{path} is a directory, not a store file; move it away")
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"{path} is not a regular file; move it away")
    return info.st_size


def _check_magic(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head != MAGIC:
        raise StoreCorrupt(f"{path} is not a rotator store (not an SQLite database)")
