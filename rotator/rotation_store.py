"""The persisted half of rotation: each policy's live keys, each rotation, each sink.

Every method is one transaction that also appends to the audit log, so
``rotator history`` shows every step with its time, outcome and access key
ids. Secrets are sealed under ``rotation/<id>/secret`` the moment they exist.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rotator.digitalocean.spaces import Grant
from rotator.errors import StoreLocked
from rotator.secret import Secret
from rotator.store import Store

IN_FLIGHT = ("planned", "created", "pushing")


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True)
class PolicyKeys:
    """The keys a policy keeps alive: current, and previous until it is revoked."""

    policy: str
    current_access_key: str
    current_rotation_id: str | None
    current_since: datetime
    previous_access_key: str | None
    previous_revoke_after: datetime | None
    revoke_error: str | None


@dataclass(frozen=True)
class SinkRecord:
    """One sink's progress within a rotation."""

    sink: str
    status: str  # pending | confirmed | failed
    detail: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class RotationRecord:
    """One rotation, as far as it got."""

    id: str
    policy: str
    state: str  # planned | created | pushing | succeeded | abandoned
    old_access_key: str
    new_key_name: str
    grants: tuple[Grant, ...]
    new_access_key: str | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    last_error: str | None
    sinks: dict[str, SinkRecord] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        return f"rotation/{self.id}/secret"

    @property
    def in_flight(self) -> bool:
        return self.state in IN_FLIGHT


_SELECT_ROTATIONS = (
    "SELECT id, policy, state, old_access_key, new_key_name, grants, new_access_key, "
    "started_at, updated_at, finished_at, last_error FROM rotations"
)


class RotationStore:
    """Reads and writes rotation state in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reading -------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        return self.store.db

    def policy_keys(self, policy: str) -> PolicyKeys | None:
        row = (
            self._db()
            .execute(
                "SELECT policy, current_access_key, current_rotation_id, current_since, "
                "previous_access_key, previous_revoke_after, revoke_error "
                "FROM policy_keys WHERE policy = ?",
                (policy,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return PolicyKeys(
            row[0], row[1], row[2], datetime.fromisoformat(row[3]), row[4], _when(row[5]), row[6]
        )

    def _record(self, row: tuple[Any, ...]) -> RotationRecord:
        sinks = {
            sink: SinkRecord(sink, status, json.loads(detail), datetime.fromisoformat(updated))
            for sink, status, detail, updated in self._db().execute(
                "SELECT sink, status, detail, updated_at FROM rotation_sinks "
                "WHERE rotation_id = ? ORDER BY rowid",
                (row[0],),
            )
        }
        grants = tuple(Grant(g["bucket"], g["permission"]) for g in json.loads(row[5]))
        return RotationRecord(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            grants,
            row[6],
            datetime.fromisoformat(row[7]),
            datetime.fromisoformat(row[8]),
            _when(row[9]),
            row[10],
            sinks,
        )

    def get(self, rotation_id: str) -> RotationRecord:
        row = (
            self._db()
            .execute(
                _SELECT_ROTATIONS + " WHERE id = ?",
                (rotation_id,),
            )
            .fetchone()
        )
        return self._record(row)

    def in_flight(self, policy: str) -> RotationRecord | None:
        row = (
            self._db()
            .execute(
                _SELECT_ROTATIONS + " "
                "WHERE policy = ? AND state IN ('planned', 'created', 'pushing')",
                (policy,),
            )
            .fetchone()
        )
        return None if row is None else self._record(row)

    def recent(self, policy: str | None = None, limit: int = 20) -> list[RotationRecord]:
        query = _SELECT_ROTATIONS
        params: tuple[Any, ...] = ()
        if policy is not None:
            query += " WHERE policy = ?"
            params = (policy,)
        rows = (
            self._db()
            .execute(query + " ORDER BY started_at DESC LIMIT ?", (*params, limit))
            .fetchall()
        )
        return [self._record(row) for row in rows]

    def open_secret(self, record: RotationRecord) -> Secret:
        """The new key's secret, opened under its rotation's identity."""
        row = (
            self._db()
            .execute("SELECT new_secret_sealed FROM rotations WHERE id = ?", (record.id,))
            .fetchone()
        )
        return self.store.keyring.open(row[0], record.identity)

    # -- writing ---------------------------------------------------------------

    def begin(
        self,
        policy: str,
        rotation_id: str,
        old_access_key: str,
        new_key_name: str,
        grants: tuple[Grant, ...],
    ) -> RotationRecord:
        """Record the plan before anything is created (so a created key can be found)."""
        now = _iso(self.store.now())
        with self.store.transaction() as db:
            try:
                db.execute(
                    "INSERT INTO rotations (id, policy, state, old_access_key, new_key_name, "
                    "grants, started_at, updated_at) VALUES (?, ?, 'planned', ?, ?, ?, ?, ?)",
                    (
                        rotation_id,
                        policy,
                        old_access_key,
                        new_key_name,
                        json.dumps([g.to_json() for g in grants]),
                        now,
                        now,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise StoreLocked(f"policy {policy!r} already has a rotation in flight") from exc
            self.store.log_within(
                db,
                "rotation_planned",
                policy,
                "ok",
                rotation_id=rotation_id,
                old_access_key=old_access_key,
                new_key_name=new_key_name,
            )
        return self.get(rotation_id)

    def record_created(self, record: RotationRecord, access_key: str, secret: Secret) -> None:
        """Keep the new key and its sealed secret: the only copy of the secret there is."""
        with self.store.transaction() as db:
            db.execute(
                "UPDATE rotations SET state = 'created', new_access_key = ?, "
                "new_secret_sealed = ?, updated_at = ?, last_error = NULL WHERE id = ?",
                (
                    access_key,
                    self.store.keyring.seal(secret, record.identity),
                    _iso(self.store.now()),
                    record.id,
                ),
            )
            self.store.log_within(
                db,
                "rotation_key_created",
                record.policy,
                "ok",
                rotation_id=record.id,
                new_access_key=access_key,
            )

    def record_state(
        self,
        record: RotationRecord,
        state: str,
        *,
        error: str | None = None,
        event: str | None = None,
        **detail: Any,
    ) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE rotations SET state = ?, last_error = ?, updated_at = ? WHERE id = ?",
                (state, error, _iso(self.store.now()), record.id),
            )
            if event is not None:
                self.store.log_within(
                    db,
                    event,
                    record.policy,
                    "failed" if error else "ok",
                    rotation_id=record.id,
                    error=error,
                    **detail,
                )

    def record_sink(
        self, record: RotationRecord, sink: str, status: str, detail: dict[str, Any]
    ) -> None:
        now = _iso(self.store.now())
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO rotation_sinks (rotation_id, sink, status, detail, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (rotation_id, sink) DO UPDATE SET "
                "status = excluded.status, detail = excluded.detail, "
                "updated_at = excluded.updated_at",
                (record.id, sink, status, json.dumps(detail, sort_keys=True), now),
            )
            if status != "pending":
                self.store.log_within(
                    db,
                    f"rotation_sink_{status}",
                    record.policy,
                    "ok" if status == "confirmed" else "failed",
                    rotation_id=record.id,
                    sink=sink,
                    new_access_key=record.new_access_key,
                    **detail,
                )

    def adopt(self, policy: str, access_key: str, since: datetime | None = None) -> None:
        """Start tracking a policy from the key the config names.

        *since* is when that key was created (DigitalOcean's ``created_at``):
        the key's age, and so its due time, survives a first rotation that
        fails. Without it the key counts as new from now.
        """
        now = self.store.now()
        since = now if since is None else min(since, now)
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO policy_keys (policy, current_access_key, current_since, "
                "updated_at) VALUES (?, ?, ?, ?)",
                (policy, access_key, _iso(since), _iso(now)),
            )

    def promote(self, record: RotationRecord, grace: timedelta) -> None:
        """The new key becomes current and the old one previous, in one transaction."""
        now = self.store.now()
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO policy_keys (policy, current_access_key, current_rotation_id, "
                "current_since, previous_access_key, previous_revoke_after, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (policy) DO UPDATE SET "
                "current_access_key = excluded.current_access_key, "
                "current_rotation_id = excluded.current_rotation_id, "
                "current_since = excluded.current_since, "
                "previous_access_key = excluded.previous_access_key, "
                "previous_revoke_after = excluded.previous_revoke_after, "
                "revoke_error = NULL, updated_at = excluded.updated_at",
                (
                    record.policy,
                    record.new_access_key,
                    record.id,
                    _iso(now),
                    record.old_access_key,
                    _iso(now + grace),
                    _iso(now),
                ),
            )
            db.execute(
                "UPDATE rotations SET state = 'succeeded', finished_at = ?, updated_at = ?, "
                "last_error = NULL WHERE id = ?",
                (_iso(now), _iso(now), record.id),
            )
            self.store.log_within(
                db,
                "rotation_promoted",
                record.policy,
                "ok",
                rotation_id=record.id,
                old_access_key=record.old_access_key,
                new_access_key=record.new_access_key,
                revoke_after=_iso(now + grace),
            )

    def record_revoke(
        self, policy: str, access_key: str, *, error: str | None = None, already_gone: bool = False
    ) -> None:
        with self.store.transaction() as db:
            if error is None:
                db.execute(
                    "UPDATE policy_keys SET previous_access_key = NULL, "
                    "previous_revoke_after = NULL, revoke_error = NULL, updated_at = ? "
                    "WHERE policy = ? AND previous_access_key = ?",
                    (_iso(self.store.now()), policy, access_key),
                )
            else:
                db.execute(
                    "UPDATE policy_keys SET revoke_error = ?, updated_at = ? WHERE policy = ?",
                    (error, _iso(self.store.now()), policy),
                )
            self.store.log_within(
                db,
                "key_revoked" if error is None else "key_revoke_failed",
                policy,
                "failed" if error else "ok",
                access_key=access_key,
                already_gone=already_gone,
                error=error,
            )
