"""What the repositories need from a database, whatever the backend.

A backend (:mod:`rotator.store.sqlite`, :mod:`rotator.store.postgresql`) implements
:class:`Database`: run one statement, group statements in a transaction, and
translate its driver's exceptions into :mod:`rotator.errors` (a broken
uniqueness rule becomes :class:`Conflict`). Repositories write portable SQL
with ``?`` placeholders; a backend whose driver wants another parameter style
rewrites them in its ``execute``, so no repository knows which driver runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from rotator.errors import StoreError

Clock = Callable[[], datetime]
Row = tuple[Any, ...]


class Conflict(StoreError):
    """A write broke a uniqueness rule (a repository turns it into what it means)."""


class Rows(Protocol):
    """The answer to one statement: its rows, read lazily, and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Row | None: ...

    def __iter__(self) -> Iterator[Row]: ...


class Database(Protocol):
    """One open database, as the repositories use it."""

    dialect: str  # "sqlite" or "postgresql": which spelling of the schema it takes
    where: str  # the store as messages name it (a path; a database and host, no password)
    now_sql: str  # an SQL expression: the database's clock now, in whole ms since the epoch

    def execute(self, sql: str, params: Sequence[object] = ()) -> Rows:
        """Run one statement with ``?`` placeholders."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """All statements inside commit together or not at all; nesting joins the outer one."""
        ...

    def schema_version(self) -> int:
        """The number of migrations the database has had (0: none, a new store)."""
        ...

    def set_schema_version(self, version: int) -> None:
        """Record ``version`` (inside the migration's transaction)."""
        ...

    def lock_schema(self) -> None:
        """First thing in a migration's transaction: keep other processes' migrations out."""
        ...

    def close(self) -> None: ...
