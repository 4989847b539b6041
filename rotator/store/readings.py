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

Times are converted to Unix seconds in SQL (``strftime('%s')``, whole
seconds); a time SQLite cannot read comes back as None, never as an error.
:func:`open_read_only` opens the file read-only with a deadline, so a scrape
never waits long on a busy or broken store.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

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
    finally:
        db.execute("COMMIT")
    return StoreReadings(policies, connections, int(pending), oldest)
