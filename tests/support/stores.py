"""Store backends as the tests drive them (open stores, reach under them), and a keyring."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rotator.crypto import Keyring, MasterKey
from rotator.secret import Secret
from rotator.store import Store, utc_now
from rotator.store.database import Clock
from rotator.store.postgresql import to_driver_sql


def ring() -> Keyring:
    """A keyring with a fresh master key."""
    return Keyring(MasterKey.from_text(MasterKey.generate_text(), "test"))


class Backend:
    """One store backend: open stores on it, and reach under the store (as an intruder would)."""

    name = ""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def create(self, keyring: Keyring, *, now: Clock = utc_now) -> Store:
        raise NotImplementedError

    def open(self, keyring: Keyring, **options: Any) -> Store:
        raise NotImplementedError

    def sql(self, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on a connection of its own, committed at once."""
        raise NotImplementedError

    def contents(self) -> bytes:
        """Everything the backend keeps, as bytes (to look for plaintext)."""
        raise NotImplementedError

    def schema_version(self) -> int:
        raise NotImplementedError

    def set_schema_version(self, version: int) -> None:
        raise NotImplementedError

    def tables(self) -> set[str]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class SqliteBackend(Backend):
    name = "sqlite"

    @property
    def path(self) -> Path:
        return self.state_dir / "rotator.db"

    def create(self, keyring: Keyring, *, now: Clock = utc_now) -> Store:
        return Store.create(self.state_dir, keyring, now=now)

    def open(self, keyring: Keyring, **options: Any) -> Store:
        options.setdefault("writer", False)
        return Store.open(self.state_dir, keyring, **options)

    def sql(self, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            return list(db.execute(statement, tuple(params)))
        finally:
            db.close()

    def contents(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.state_dir.iterdir() if p.is_file())

    def schema_version(self) -> int:
        return int(self.sql("PRAGMA user_version")[0][0])

    def set_schema_version(self, version: int) -> None:
        self.sql(f"PRAGMA user_version = {int(version)}")

    def tables(self) -> set[str]:
        return {row[0] for row in self.sql("SELECT name FROM sqlite_master WHERE type='table'")}


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self, state_dir: Path, url: str) -> None:
        super().__init__(state_dir)
        self.url = url

    def create(self, keyring: Keyring, *, now: Clock = utc_now) -> Store:
        return Store.create(self.state_dir, keyring, now=now, database_url=Secret(self.url))

    def open(self, keyring: Keyring, **options: Any) -> Store:
        options.setdefault("writer", False)
        return Store.open(self.state_dir, keyring, database_url=Secret(self.url), **options)

    def sql(self, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db:
            cursor = db.execute(to_driver_sql(statement), tuple(params))
            return cursor.fetchall() if cursor.description is not None else []

    def contents(self) -> bytes:
        rows = self.sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        )
        dump = [repr(self.sql(f'SELECT * FROM "{name}"')) for (name,) in rows]  # noqa: S608
        return "\n".join(dump).encode()

    def schema_version(self) -> int:
        return int(self.sql("SELECT value FROM meta WHERE key = 'schema_version'")[0][0])

    def set_schema_version(self, version: int) -> None:
        self.sql("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))

    def tables(self) -> set[str]:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        return {row[0] for row in self.sql(query)}
