"""The store's schema: every table and index, as numbered migrations.

``MIGRATIONS[n]`` takes a store from schema version ``n`` to ``n + 1``; a
store records its version (SQLite: ``PRAGMA user_version``) and is only ever
moved forward, in one transaction. Never edit a released migration: append a
new one. The statements are written once, in the SQL both backends accept
(times as fixed-width UTC text, JSON as text, ``ON CONFLICT`` upserts,
partial indexes); :func:`statements` adapts the one thing that differs, an
ever-growing integer key: SQLite's ``INTEGER PRIMARY KEY AUTOINCREMENT`` is
PostgreSQL's ``BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY``. PostgreSQL
keeps the version in ``meta`` (key ``schema_version``).
"""

from __future__ import annotations

import re

# Every sealed column, with the prefix and suffix of the identity its values are
# sealed under (``<prefix>/<row id>/<suffix>``): rekey walks these.
SEALED_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("connections", "token_sealed", "connection", "token"),
    ("rotations", "new_secret_sealed", "rotation", "secret"),
)

MIGRATIONS: list[list[str]] = [
    # 1: connections, the audit log and store metadata.
    [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE connections (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            token_sealed TEXT NOT NULL,
            token_hash TEXT NOT NULL,
            token_kind TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            token_set_at TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('valid', 'invalid', 'unknown')),
            status_reason TEXT NOT NULL DEFAULT '',
            account_email TEXT,
            account_uuid TEXT,
            account_status TEXT,
            token_expires_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_validated_at TEXT
        )""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            event TEXT NOT NULL,
            subject TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX audit_log_subject ON audit_log (subject, id)",
    ],
    # 2: scope reports, and the alert outbox with its de-duplication state.
    [
        """CREATE TABLE scope_reports (
            connection_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
            token_hash TEXT NOT NULL,
            audited_at TEXT NOT NULL,
            report TEXT NOT NULL
        )""",
        """CREATE TABLE alert_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            channel TEXT NOT NULL,
            event TEXT NOT NULL,
            subject TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            delivered_at TEXT,
            gave_up_at TEXT
        )""",
        "CREATE INDEX alert_outbox_pending ON alert_outbox (next_attempt_at) "
        "WHERE delivered_at IS NULL AND gave_up_at IS NULL",
        """CREATE TABLE alert_conditions (
            condition TEXT PRIMARY KEY,
            event TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail_hash TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            last_sent_at TEXT NOT NULL
        )""",
    ],
    # 3: rotation state — each policy's live keys, each rotation and its sinks.
    [
        """CREATE TABLE policy_keys (
            policy TEXT PRIMARY KEY,
            current_access_key TEXT NOT NULL,
            current_rotation_id TEXT,
            current_since TEXT NOT NULL,
            previous_access_key TEXT,
            previous_revoke_after TEXT,
            revoke_error TEXT,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE rotations (
            id TEXT PRIMARY KEY,
            policy TEXT NOT NULL,
            state TEXT NOT NULL,
            old_access_key TEXT NOT NULL,
            new_key_name TEXT NOT NULL,
            grants TEXT NOT NULL,
            new_access_key TEXT,
            new_secret_sealed TEXT,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT,
            last_error TEXT
        )""",
        # At most one rotation per policy is in flight, enforced by the database itself.
        "CREATE UNIQUE INDEX rotations_in_flight ON rotations (policy) "
        "WHERE state NOT IN ('succeeded', 'abandoned')",
        """CREATE TABLE rotation_sinks (
            rotation_id TEXT NOT NULL REFERENCES rotations (id),
            sink TEXT NOT NULL,
            status TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (rotation_id, sink)
        )""",
    ],
    # 4: leases on units of work (one row per item, kept after release so its fencing
    # token only grows) and the replicas sharing the store. Times here are whole
    # milliseconds since the Unix epoch by the database's own clock (never a replica's),
    # so expiry is compared in SQL, in the same statement that claims or fences.
    [
        """CREATE TABLE leases (
            item TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            token BIGINT NOT NULL CHECK (token >= 1),
            acquired_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        )""",
        "CREATE INDEX leases_holder ON leases (holder, expires_at)",
        """CREATE TABLE replicas (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            last_seen BIGINT NOT NULL,
            leases_lost BIGINT NOT NULL DEFAULT 0
        )""",
    ],
    # 5: the rate budget of each DigitalOcean token, shared by every replica: the
    # calls granted in each 5-second slot of the last minute (m0 the slot minute_slot,
    # m1 the one before, … m12), the hour's bucket as of updated_at (ms by the database's
    # clock), the hour's reset DigitalOcean last reported and a 429's block.
    [
        """CREATE TABLE rate_budgets (
            key TEXT PRIMARY KEY,
            minute_slot BIGINT NOT NULL,
            m0 BIGINT NOT NULL DEFAULT 0,
            m1 BIGINT NOT NULL DEFAULT 0,
            m2 BIGINT NOT NULL DEFAULT 0,
            m3 BIGINT NOT NULL DEFAULT 0,
            m4 BIGINT NOT NULL DEFAULT 0,
            m5 BIGINT NOT NULL DEFAULT 0,
            m6 BIGINT NOT NULL DEFAULT 0,
            m7 BIGINT NOT NULL DEFAULT 0,
            m8 BIGINT NOT NULL DEFAULT 0,
            m9 BIGINT NOT NULL DEFAULT 0,
            m10 BIGINT NOT NULL DEFAULT 0,
            m11 BIGINT NOT NULL DEFAULT 0,
            m12 BIGINT NOT NULL DEFAULT 0,
            hour_tokens DOUBLE PRECISION NOT NULL,
            updated_at BIGINT NOT NULL,
            hour_reset BIGINT,
            blocked_until BIGINT NOT NULL DEFAULT 0
        )""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)
# Every table the migrations create, for a backend's damage check.
TABLES = tuple(
    match[1]
    for migration in MIGRATIONS
    for statement in migration
    if (match := re.match(r"CREATE TABLE (\w+)", statement))
)

_SPELLINGS = {
    "postgresql": (
        ("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
    ),
}


def statements(number: int, dialect: str) -> list[str]:
    """Migration ``number`` (0-based) in ``dialect`` (``sqlite`` or ``postgresql``)."""
    adapted = []
    for statement in MIGRATIONS[number]:
        for portable, native in _SPELLINGS.get(dialect, ()):
            statement = statement.replace(portable, native)
        adapted.append(statement)
    return adapted
