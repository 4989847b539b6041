"""Each connection's next validation and audit (``connections.*_due_at``), as the daemon keeps them.

The daemon works a due time out once, from what it depends on (the last
validation, the scope report, the config), and keeps it here; every wake-up
then asks one indexed query what is due, instead of recomputing every
connection. The store does not know the config, so it never computes a due
time: whatever changes a fact a due time depends on sets it back to NULL
(``connections`` on a validation or a new token, ``scope_reports`` on an
audit), and the daemon works out the NULL ones at its next look. What the
kept times were computed from (intervals, required scopes) is recorded in
``meta`` as each kind's *basis*: a daemon with another config forgets them.

Kinds: ``validate`` and ``audit``; their columns are constants, never input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from rotator.errors import StoreCorrupt
from rotator.store.codec import decode_json_object, decode_optional_time, decode_time, encode_time
from rotator.store.database import Database

_COLUMNS = {"validate": "validate_due_at", "audit": "audit_due_at"}

Unset = tuple[str, datetime | None, "list[str] | None"]
"""A connection whose due time is unknown: its name, when it was last done, and (audit only)
the scopes its stored report was judged against (None: no report for its current token)."""


def _column(kind: str) -> str:
    try:
        return _COLUMNS[kind]
    except KeyError:
        raise ValueError(f"no stored due times for {kind!r}") from None


class DueTimes:
    """Read and write the due times the daemon keeps per connection."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- what they were computed from ---------------------------------------------------

    def basis(self, kind: str) -> str | None:
        """What the kept *kind* due times were computed from (None: never recorded)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (f"due:{kind}",)).fetchone()
        return None if row is None else str(row[0])

    def rebase(self, kind: str, basis: str) -> None:
        """Forget every *kind* due time (they were computed from another config); record *basis*."""
        column = _column(kind)
        with self._db.transaction():
            self._db.execute(f"UPDATE connections SET {column} = NULL")  # noqa: S608 (constant)
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"due:{kind}", basis),
            )

    # -- the ones to work out -----------------------------------------------------------

    def unset(self, kind: str, limit: int) -> list[Unset]:
        """Up to *limit* connections whose *kind* due time is NULL, with what it depends on."""
        _column(kind)
        if kind == "validate":
            rows = self._db.execute(
                "SELECT name, last_validated_at FROM connections "
                "WHERE validate_due_at IS NULL ORDER BY name LIMIT ?",
                (limit,),
            )
            return [
                (row[0], decode_optional_time(row[1], f"connections row {row[0]!r}"), None)
                for row in rows
            ]
        rows = self._db.execute(
            "SELECT c.name, s.audited_at, s.report FROM connections c "
            "LEFT JOIN scope_reports s ON s.connection_id = c.id AND s.token_hash = c.token_hash "
            "WHERE c.audit_due_at IS NULL ORDER BY c.name LIMIT ?",
            (limit,),
        )
        return [_audit_unset(row) for row in rows]

    def set(self, kind: str, times: Iterable[tuple[str, datetime]]) -> None:
        """Keep each connection's *kind* due time (one transaction)."""
        column = _column(kind)
        with self._db.transaction():
            for name, when in times:
                self._db.execute(
                    f"UPDATE connections SET {column} = ? WHERE name = ?",  # noqa: S608 (constant)
                    (encode_time(when), name),
                )

    # -- what is due --------------------------------------------------------------------

    def due_by(self, kind: str, until: datetime) -> list[tuple[str, datetime]]:
        """Every connection whose *kind* is due at or before *until*, earliest first."""
        column = _column(kind)
        rows = self._db.execute(
            f"SELECT name, {column} FROM connections WHERE {column} <= ? "  # noqa: S608
            f"ORDER BY {column}, name",
            (encode_time(until),),
        )
        return [(row[0], _time(row[0], row[1])) for row in rows]

    def next_after(self, kind: str, after: datetime, limit: int) -> list[tuple[str, datetime]]:
        """The *limit* connections due soonest after *after*, earliest first (one index walk)."""
        column = _column(kind)
        rows = self._db.execute(
            f"SELECT name, {column} FROM connections WHERE {column} > ? "  # noqa: S608
            f"ORDER BY {column}, name LIMIT ?",
            (encode_time(after), limit),
        )
        return [(row[0], _time(row[0], row[1])) for row in rows]

    def of(self, kind: str, names: Sequence[str]) -> dict[str, datetime]:
        """The kept *kind* due times of *names* (those that exist and have one)."""
        column = _column(kind)
        found = {}
        for name in names:
            row = self._db.execute(
                f"SELECT {column} FROM connections WHERE name = ?",  # noqa: S608 (constant)
                (name,),
            ).fetchone()
            if row is not None and row[0] is not None:
                found[name] = _time(name, row[0])
        return found


def _time(name: str, text: str) -> datetime:
    return decode_time(text, f"connections row {name!r} (due time)")


def _audit_unset(row: tuple[object, ...]) -> Unset:
    name = str(row[0])
    if row[1] is None:
        return name, None, None
    where = f"scope_reports row for {name!r}"
    try:
        report = decode_json_object(str(row[2]), f"{where} (report)")
        audited_at = decode_time(str(row[1]), f"{where} (audited_at)")
    except StoreCorrupt:
        return name, None, None  # unreadable: due at once, and the next audit replaces it
    required = report.get("required", [])
    return (
        name,
        audited_at,
        [str(scope) for scope in required] if isinstance(required, list) else [],
    )
