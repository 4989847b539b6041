"""Read-only aggregate queries behind ``/metrics``: what the store knows, read at scrape time.

Reading the store at scrape time (not counting in the daemon's memory) is what
lets a rotation run by ``rotator rotate``, or by another process on the same
store, show on the daemon's ``/metrics``. Four queries, each one pass over a
small table or a partial index, no decryption and no per-row lookups:

1. ``policy_keys``: each policy's ``current_since`` (and whether a rotation
   made the current key, or rotator only adopted it) and the previous key's
   ``previous_revoke_after``;
2. ``rotations`` in flight (the partial index ``rotations_in_flight``), with
   when each started;
3. ``connections`` joined to their ``scope_reports``: status, token expiry and
   the verdict of the report made for the *current* token;
4. ``alert_outbox`` rows not yet delivered nor given up (the partial index
   ``alert_outbox_pending``): how many, and the oldest.

5. ``leases`` alive now, counted per holder, and each replica's count of
   leases lost (``replicas``): several replicas' work, seen from any one.

Times are converted to Unix seconds in SQL (``strftime('%s')``, whole
seconds); a time SQLite cannot read comes back as None, never as an error.
:func:`open_read_only` opens the file read-only with a deadline, so a scrape
never waits long on a busy or broken store.

PostgreSQL (:func:`read_postgres`): the same readings on one short-lived
connection of its own (no pool), read-only, in one transaction with a
statement timeout; the rows come back raw and times and verdicts are decoded
in Python, just as tolerantly (an unreadable value is None).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rotator.store.sqlite import SqliteDatabase

if TYPE_CHECKING:
    from rotator.secret import Secret

# Unix seconds from the store's ISO 8601 times: CAST(strftime('%s', t) AS INTEGER).
_POLICY_KEYS = """
SELECT policy,
       CAST(strftime('%s', current_since) AS INTEGER),
       current_rotation_id IS NOT NULL,
       CASE WHEN previous_access_key IS NOT NULL
            THEN CAST(strftime('%s', previous_revoke_after) AS INTEGER) END
FROM policy_keys
"""
# In flight as the partial unique index rotations_in_flight says it.
_IN_FLIGHT = """
SELECT policy, min(CAST(strftime('%s', started_at) AS INTEGER))
FROM rotations
WHERE state NOT IN ('succeeded', 'abandoned')
GROUP BY policy
"""
# A scope report counts only if it was made for the connection's current token.
_CONNECTIONS = """
SELECT c.name,
       substr(c.token_hash, 1, 12),
       c.status,
       CAST(strftime('%s', c.token_expires_at) AS INTEGER),
       CASE WHEN s.token_hash = c.token_hash AND json_valid(s.report)
            THEN json_extract(s.report, '$.verdict') END
FROM connections c LEFT JOIN scope_reports s ON s.connection_id = c.id
ORDER BY c.name
"""
_OUTBOX = """
SELECT count(*), min(CAST(strftime('%s', created_at) AS INTEGER))
FROM alert_outbox
WHERE delivered_at IS NULL AND gave_up_at IS NULL
"""
# The same, raw, for PostgreSQL (decoded in Python).
_PG_POLICY_KEYS = """
SELECT policy, current_since, current_rotation_id IS NOT NULL,
       CASE WHEN previous_access_key IS NOT NULL THEN previous_revoke_after END
FROM policy_keys
"""
_PG_IN_FLIGHT = """
SELECT policy, min(started_at)
FROM rotations
WHERE state NOT IN ('succeeded', 'abandoned')
GROUP BY policy
"""
_PG_CONNECTIONS = """
SELECT c.name, substr(c.token_hash, 1, 12), c.status, c.token_expires_at,
       CASE WHEN s.token_hash = c.token_hash THEN s.report END
FROM connections c LEFT JOIN scope_reports s ON s.connection_id = c.id
ORDER BY c.name
"""
_PG_OUTBOX = """
SELECT count(*), min(created_at)
FROM alert_outbox
WHERE delivered_at IS NULL AND gave_up_at IS NULL
"""


def _leases_held(now_sql: str) -> str:
    return (
        f"SELECT holder, count(*) FROM leases WHERE expires_at > {now_sql} "  # noqa: S608
        "GROUP BY holder ORDER BY holder"
    )


_LEASES_LOST = "SELECT id, leases_lost FROM replicas ORDER BY id"


@dataclass(frozen=True)
class PolicyReading:
    """One policy's keys as the store has them."""

    current_since: float | None = None
    """When the current key became current (by rotation or adoption)."""
    rotated: bool = False
    """Whether a rotation by rotator made the current key (False: only adopted)."""
    previous_revoke_after: float | None = None
    """When the previous key may be deleted; None when there is no previous key."""
    in_flight: bool = False
    """Whether a rotation of this policy is in flight."""
    in_flight_since: float | None = None
    """When the rotation in flight started (None when none is, or its time is unreadable)."""


@dataclass(frozen=True)
class ConnectionReading:
    """One connection's validation status, token expiry and scope verdict."""

    name: str
    fingerprint: str
    status: str
    token_expires_at: float | None
    verdict: str | None
    """The latest scope audit's verdict for the current token; None when not audited."""


@dataclass(frozen=True)
class StoreReadings:
    """Everything ``/metrics`` reads from the store in one scrape."""

    policies: dict[str, PolicyReading]
    connections: list[ConnectionReading]
    outbox_pending: int
    outbox_oldest_pending: float | None
    leases_held: dict[str, int] = field(default_factory=dict)
    """Leases alive now, per holder (replica id)."""
    leases_lost: dict[str, int] = field(default_factory=dict)
    """Leases each replica (still in the list) has lost since it started."""


def open_read_only(path: Path, *, deadline_seconds: float = 2.0) -> sqlite3.Connection:
    """Open the store file read-only; every statement on it stops at the deadline.

    The deadline covers waiting on a lock (``timeout``) and running
    (a progress handler interrupts a statement past it, raising
    ``sqlite3.OperationalError``).
    """
    db = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro",
        uri=True,
        timeout=deadline_seconds,
        isolation_level=None,
        check_same_thread=False,
    )
    stop_at = time.monotonic() + deadline_seconds
    db.set_progress_handler(lambda: int(time.monotonic() > stop_at), 1000)
    return db


def read_store(db: sqlite3.Connection) -> StoreReadings:
    """Run the four queries in one read transaction (one consistent snapshot)."""
    db.execute("BEGIN")
    try:
        policies: dict[str, PolicyReading] = {}
        for policy, since, rotated, revoke_after in db.execute(_POLICY_KEYS):
            policies[policy] = PolicyReading(since, bool(rotated), revoke_after)
        for policy, started in db.execute(_IN_FLIGHT):
            known = policies.get(policy, PolicyReading())
            policies[policy] = PolicyReading(
                known.current_since, known.rotated, known.previous_revoke_after, True, started
            )
        connections = [
            ConnectionReading(name, fingerprint, status, expires, verdict)
            for name, fingerprint, status, expires, verdict in db.execute(_CONNECTIONS)
        ]
        pending, oldest = db.execute(_OUTBOX).fetchone()
        held, lost = _lease_readings(db.execute, SqliteDatabase.now_sql)
    finally:
        db.execute("COMMIT")
    return StoreReadings(policies, connections, int(pending), oldest, held, lost)


def _lease_readings(
    execute: Callable[[str], Iterable[Any]], now_sql: str
) -> tuple[dict[str, int], dict[str, int]]:
    held = {str(holder): int(count) for holder, count in execute(_leases_held(now_sql))}
    lost = {str(replica): int(count) for replica, count in execute(_LEASES_LOST)}
    return held, lost


def _seconds(value: object) -> float | None:
    """Unix seconds (whole) from a stored time; None when it cannot be read."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if moment.tzinfo is None else float(int(moment.timestamp()))


def _verdict(report: object) -> str | None:
    if not isinstance(report, str):
        return None
    try:
        value = json.loads(report)
    except ValueError:
        return None
    verdict = value.get("verdict") if isinstance(value, dict) else None
    return verdict if isinstance(verdict, str) else None


def read_postgres(database_url: Secret, *, deadline_seconds: float = 2.0) -> StoreReadings:
    """The readings from a PostgreSQL store, on a connection of its own, within the deadline."""
    import psycopg

    from rotator.errors import StoreError
    from rotator.store.postgres_url import DatabaseUrl, one_line
    from rotator.store.postgresql import PostgresDatabase

    url = DatabaseUrl(database_url)
    timeout = max(1, int(deadline_seconds))
    try:
        with psycopg.connect(
            url.reveal(), autocommit=True, prepare_threshold=None, connect_timeout=timeout
        ) as db:
            milliseconds = int(deadline_seconds * 1000)
            db.execute(
                "BEGIN READ ONLY; "
                f"SET LOCAL statement_timeout = {milliseconds}; "
                f"SET LOCAL lock_timeout = {milliseconds}"
            )
            try:
                return _read_rows(lambda sql: db.execute(sql).fetchall(), PostgresDatabase.now_sql)
            finally:
                db.execute("ROLLBACK")
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot read {url.where}: {url.scrub(one_line(str(exc) or type(exc).__name__))}"
        ) from None


def _read_rows(rows: Callable[[str], list[tuple[Any, ...]]], now_sql: str) -> StoreReadings:
    policies: dict[str, PolicyReading] = {}
    for policy, since, rotated, revoke_after in rows(_PG_POLICY_KEYS):
        policies[policy] = PolicyReading(_seconds(since), bool(rotated), _seconds(revoke_after))
    for policy, started in rows(_PG_IN_FLIGHT):
        known = policies.get(policy, PolicyReading())
        policies[policy] = PolicyReading(
            known.current_since, known.rotated, known.previous_revoke_after, True, _seconds(started)
        )
    connections = [
        ConnectionReading(name, fingerprint, status, _seconds(expires), _verdict(report))
        for name, fingerprint, status, expires, report in rows(_PG_CONNECTIONS)
    ]
    [(pending, oldest)] = rows(_PG_OUTBOX)
    held, lost = _lease_readings(rows, now_sql)
    return StoreReadings(policies, connections, int(pending), _seconds(oldest), held, lost)
