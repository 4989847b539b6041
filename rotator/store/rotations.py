"""Rotation state (``policy_keys``, ``rotations``, ``rotation_sinks``).

Each policy's live keys, each rotation and each sink's progress within it.
Every write is one transaction that also appends to the audit log, so
``rotator history`` shows every step with its time, outcome and access key
ids. Secrets are sealed under ``rotation/<id>/secret`` the moment they exist.

Fenced writes: every write method takes an optional ``fence`` (the policy's
lease, see :mod:`rotator.store.leases`). With one, the transaction's first
statement checks that the fencing token is still the newest and the lease
alive; if not, :class:`~rotator.errors.LeaseLost` and nothing is written, so
a replica that paused past its lease cannot write over its successor.

Why one module of this size: the three tables change together in single
fenced transactions (a promote writes keys, rotation and log at once), so
their SQL stays side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rotator.crypto import Keyring
from rotator.digitalocean.spaces import Grant
from rotator.errors import StoreCorrupt, StoreLocked
from rotator.secret import Secret
from rotator.store.codec import (
    decode_json_list,
    decode_json_object,
    decode_optional_time,
    decode_time,
    encode_json,
    encode_time,
)
from rotator.store.database import Clock, Conflict, Database, Row
from rotator.store.history import History
from rotator.store.keycheck import hold_key_check
from rotator.store.leases import Fence, Leases
from rotator.store.sealing import SealingRepository

# A rotation in any other state is in flight (the unique index in the schema agrees).
FINISHED = ("succeeded", "abandoned")
_NOT_FINISHED = "state NOT IN ('succeeded', 'abandoned')"


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
        return self.state not in FINISHED


_SELECT = (
    "SELECT id, policy, state, old_access_key, new_key_name, grants, new_access_key, "
    "started_at, updated_at, finished_at, last_error FROM rotations"
)


_KEYS = (
    "SELECT policy, current_access_key, current_rotation_id, current_since, "
    "previous_access_key, previous_revoke_after, revoke_error FROM policy_keys"
)


def _policy_keys(row: Row) -> PolicyKeys:
    where = f"policy_keys row {row[0]!r}"
    return PolicyKeys(
        row[0],
        row[1],
        row[2],
        decode_time(row[3], f"{where} (current_since)"),
        row[4],
        decode_optional_time(row[5], f"{where} (previous_revoke_after)"),
        row[6],
    )


class Rotations(SealingRepository):
    """Reads and writes rotation state."""

    def __init__(
        self, db: Database, history: History, now: Clock, keyring: Callable[[], Keyring]
    ) -> None:
        super().__init__(db, history, now, keyring)
        self._leases = Leases(db)

    def _fence(self, fence: Fence | None) -> None:
        """First in a write's transaction: refuse it when *fence* no longer holds."""
        if fence is not None:
            self._leases.check(fence)

    # -- reading -------------------------------------------------------------

    def policy_keys(self, policy: str) -> PolicyKeys | None:
        row = self._db.execute(f"{_KEYS} WHERE policy = ?", (policy,)).fetchone()
        return None if row is None else _policy_keys(row)

    def every_policy_keys(self) -> dict[str, PolicyKeys]:
        """Every policy's keys in one query (the daemon's look at what is due)."""
        return {row[0]: _policy_keys(row) for row in self._db.execute(_KEYS)}

    def policies_in_flight(self) -> set[str]:
        """The policies with an unfinished rotation, in one query."""
        query = f"SELECT policy FROM rotations WHERE {_NOT_FINISHED}"  # noqa: S608 (constant)
        return {str(row[0]) for row in self._db.execute(query)}

    def _record(self, row: Row) -> RotationRecord:
        where = f"rotations row {row[0]!r}"
        sinks = {}
        for sink, status, detail, updated in self._db.execute(
            "SELECT sink, status, detail, updated_at FROM rotation_sinks "
            "WHERE rotation_id = ? ORDER BY sink",
            (row[0],),
        ):
            at = f"rotation_sinks row {row[0]!r}/{sink!r}"
            sinks[sink] = SinkRecord(
                sink,
                status,
                decode_json_object(detail, f"{at} (detail)"),
                decode_time(updated, f"{at} (updated_at)"),
            )
        try:
            grants = tuple(
                Grant(g["bucket"], g["permission"])
                for g in decode_json_list(row[5], f"{where} (grants)")
            )
        except (KeyError, TypeError):
            raise StoreCorrupt(f"the store's {where} (grants) is not a list of grants") from None
        return RotationRecord(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            grants,
            row[6],
            decode_time(row[7], f"{where} (started_at)"),
            decode_time(row[8], f"{where} (updated_at)"),
            decode_optional_time(row[9], f"{where} (finished_at)"),
            row[10],
            sinks,
        )

    def get(self, rotation_id: str) -> RotationRecord:
        row = self._db.execute(_SELECT + " WHERE id = ?", (rotation_id,)).fetchone()
        if row is None:
            raise StoreCorrupt(f"the store has no rotation {rotation_id!r}")
        return self._record(row)

    def in_flight(self, policy: str) -> RotationRecord | None:
        """The policy's unfinished rotation, if any (at most one: the schema says so)."""
        query = f"{_SELECT} WHERE policy = ? AND {_NOT_FINISHED}"
        row = self._db.execute(query, (policy,)).fetchone()
        return None if row is None else self._record(row)

    def recent(self, policy: str | None = None, limit: int = 20) -> list[RotationRecord]:
        query = _SELECT
        params: tuple[Any, ...] = ()
        if policy is not None:
            query += " WHERE policy = ?"
            params = (policy,)
        rows = list(self._db.execute(query + " ORDER BY started_at DESC LIMIT ?", (*params, limit)))
        return [self._record(row) for row in rows]

    def issued(self, policy: str, identifier: str) -> RotationRecord | None:
        """The latest rotation of *policy* that made *identifier* and kept its secret."""
        query = (
            f"{_SELECT} WHERE policy = ? AND new_access_key = ? "
            "AND new_secret_sealed IS NOT NULL ORDER BY started_at DESC LIMIT 1"
        )
        row = self._db.execute(query, (policy, identifier)).fetchone()
        return None if row is None else self._record(row)

    def open_secret(self, record: RotationRecord) -> Secret:
        """The new key's secret, opened under its rotation's identity."""
        row = self._db.execute(
            "SELECT new_secret_sealed FROM rotations WHERE id = ?", (record.id,)
        ).fetchone()
        if row is None or row[0] is None:
            raise StoreCorrupt(f"rotation {record.id!r} has no sealed secret")
        return self._keyring().open(row[0], record.identity)

    # -- writing ---------------------------------------------------------------

    def begin(
        self,
        policy: str,
        rotation_id: str,
        old_access_key: str,
        new_key_name: str,
        grants: tuple[Grant, ...],
        *,
        fence: Fence | None = None,
    ) -> RotationRecord:
        """Record the plan before anything is created (so a created key can be found)."""
        now = encode_time(self._now())
        with self._db.transaction():
            self._fence(fence)
            try:
                self._db.execute(
                    "INSERT INTO rotations (id, policy, state, old_access_key, new_key_name, "
                    "grants, started_at, updated_at) VALUES (?, ?, 'planned', ?, ?, ?, ?, ?)",
                    (
                        rotation_id,
                        policy,
                        old_access_key,
                        new_key_name,
                        encode_json([g.to_json() for g in grants]),
                        now,
                        now,
                    ),
                )
            except Conflict as exc:
                raise StoreLocked(f"policy {policy!r} already has a rotation in flight") from exc
            self._history.log(
                "rotation_planned",
                policy,
                "ok",
                rotation_id=rotation_id,
                old_access_key=old_access_key,
                new_key_name=new_key_name,
            )
        return self.get(rotation_id)

    def record_created(
        self,
        record: RotationRecord,
        access_key: str,
        secret: Secret,
        *,
        fence: Fence | None = None,
    ) -> None:
        """Keep the new key and its sealed secret: the only copy of the secret there is."""
        with self._db.transaction():
            self._fence(fence)
            hold_key_check(self._db, self._keyring())
            self._db.execute(
                "UPDATE rotations SET state = 'created', new_access_key = ?, "
                "new_secret_sealed = ?, updated_at = ?, last_error = NULL WHERE id = ?",
                (
                    access_key,
                    self._keyring().seal(secret, record.identity),
                    encode_time(self._now()),
                    record.id,
                ),
            )
            self._history.log(
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
        fence: Fence | None = None,
        **detail: Any,
    ) -> None:
        with self._db.transaction():
            self._fence(fence)
            self._db.execute(
                "UPDATE rotations SET state = ?, last_error = ?, updated_at = ? WHERE id = ?",
                (state, error, encode_time(self._now()), record.id),
            )
            if event is not None:
                self._history.log(
                    event,
                    record.policy,
                    "failed" if error else "ok",
                    rotation_id=record.id,
                    error=error,
                    **detail,
                )

    def record_sink(
        self,
        record: RotationRecord,
        sink: str,
        status: str,
        detail: dict[str, Any],
        *,
        fence: Fence | None = None,
    ) -> None:
        now = encode_time(self._now())
        with self._db.transaction():
            self._fence(fence)
            self._db.execute(
                "INSERT INTO rotation_sinks (rotation_id, sink, status, detail, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (rotation_id, sink) DO UPDATE SET "
                "status = excluded.status, detail = excluded.detail, "
                "updated_at = excluded.updated_at",
                (record.id, sink, status, encode_json(detail), now),
            )
            if status != "pending":
                self._history.log(
                    f"rotation_sink_{status}",
                    record.policy,
                    "ok"
                    if status == "confirmed"
                    else ("waiting" if status == "waiting" else "failed"),
                    rotation_id=record.id,
                    sink=sink,
                    new_access_key=record.new_access_key,
                    **detail,
                )

    def abandon(
        self, record: RotationRecord, reason: str, *, fence: Fence | None = None, **detail: Any
    ) -> bool:
        """Give up an in-flight rotation for ``reason``, recorded in the audit log.

        The policy's keys are left as they are (the old key stays current);
        what to do with a created key is the caller's decision, reported in
        ``detail``. False, and nothing written, when the rotation had already
        finished.
        """
        now = encode_time(self._now())
        with self._db.transaction():
            self._fence(fence)
            changed = self._db.execute(
                "UPDATE rotations SET state = 'abandoned', last_error = ?, finished_at = ?, "  # noqa: S608
                f"updated_at = ? WHERE id = ? AND {_NOT_FINISHED}",
                (reason, now, now, record.id),
            ).rowcount
            if changed != 1:
                return False
            self._history.log(
                "rotation_abandoned",
                record.policy,
                "abandoned",
                rotation_id=record.id,
                state=record.state,
                old_access_key=record.old_access_key,
                new_access_key=record.new_access_key,
                reason=reason,
                **detail,
            )
        return True

    def adopt(self, policy: str, access_key: str, since: datetime | None = None) -> None:
        """Start tracking a policy from the key the config names.

        *since* is when that key was created (DigitalOcean's ``created_at``):
        the key's age, and so its due time, survives a first rotation that
        fails. Without it the key counts as new from now.
        """
        moment = self._now()
        since = moment if since is None else min(since, moment)
        now = encode_time(moment)
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO policy_keys (policy, current_access_key, current_since, "
                "updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (policy) DO NOTHING",
                (policy, access_key, encode_time(since), now),
            )

    def promote(
        self, record: RotationRecord, grace: timedelta, *, fence: Fence | None = None
    ) -> None:
        """The new key becomes current and the old one previous, in one transaction."""
        now = self._now()
        at, revoke_after = encode_time(now), encode_time(now + grace)
        with self._db.transaction():
            self._fence(fence)
            self._db.execute(
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
                    at,
                    record.old_access_key,
                    revoke_after,
                    at,
                ),
            )
            self._db.execute(
                "UPDATE rotations SET state = 'succeeded', finished_at = ?, updated_at = ?, "
                "last_error = NULL WHERE id = ?",
                (at, at, record.id),
            )
            self._history.log(
                "rotation_promoted",
                record.policy,
                "ok",
                rotation_id=record.id,
                old_access_key=record.old_access_key,
                new_access_key=record.new_access_key,
                revoke_after=revoke_after,
            )

    def record_revoke(
        self,
        policy: str,
        access_key: str,
        *,
        error: str | None = None,
        already_gone: bool = False,
        left_to_expire: bool = False,
        fence: Fence | None = None,
    ) -> None:
        """The previous credential is gone (or left to its own expiry), or its revoke failed."""
        now = encode_time(self._now())
        more = {"left_to_expire": True} if left_to_expire else {}
        with self._db.transaction():
            self._fence(fence)
            if error is None:
                self._db.execute(
                    "UPDATE policy_keys SET previous_access_key = NULL, "
                    "previous_revoke_after = NULL, revoke_error = NULL, updated_at = ? "
                    "WHERE policy = ? AND previous_access_key = ?",
                    (now, policy, access_key),
                )
            else:
                self._db.execute(
                    "UPDATE policy_keys SET revoke_error = ?, updated_at = ? WHERE policy = ?",
                    (error, now, policy),
                )
            self._history.log(
                "key_revoked" if error is None else "key_revoke_failed",
                policy,
                "failed" if error else "ok",
                access_key=access_key,
                already_gone=already_gone,
                error=error,
                **more,
            )
