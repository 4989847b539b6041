"""Give up a rotation in flight without breaking any sink.

A rotation that can never finish (its app was deleted, its Vault path is
gone) would otherwise be resumed on every run and block its policy. Giving
up is safe only while no sink may hold the new key: a sink that confirmed
it (or whose push was cut short, so may hold it) would be left with a
deleted key. Then the operator is told to finish the rotation instead.

Order, for a crash at any instant: the rotation is recorded ``abandoned``
*before* its new key is deleted. A crash in between leaves a live key that
the store names (history and the rotation row); the other order could let a
resume push a deleted key into a sink. The old key stays current throughout.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from rotator.credentials import CredentialKind
from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import DigitalOceanError, RotatorError, UsageError
from rotator.events import Notify, RotationAbandoned, ignore
from rotator.rotation.machine import credential_kind, held_secret
from rotator.settings import PolicyConfig
from rotator.store import Fence, RotationRecord, Rotations, Store, WriterLock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Abandoned:
    """What giving up a rotation did."""

    policy: str
    rotation_id: str
    state: str
    """The state the rotation was in when it was given up."""
    old_access_key: str
    new_access_key: str | None
    deleted_keys: tuple[str, ...]
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "status": "abandoned",
            "rotation_id": self.rotation_id,
            "state": self.state,
            "old_access_key": self.old_access_key,
            "new_access_key": self.new_access_key,
            "deleted_keys": list(self.deleted_keys),
            "reason": self.reason,
        }


def refusal(record: RotationRecord) -> str | None:
    """Why *record* cannot be given up safely, or None when it can."""
    holders = [s.sink for s in record.sinks.values() if s.status == "confirmed"]
    if holders:
        return (
            f"sink {', '.join(holders)} already confirmed the new key {record.new_access_key}; "
            "abandoning would leave it holding a deleted key"
        )
    cut_short = [s.sink for s in record.sinks.values() if s.status == "pending"]
    if cut_short:
        return (
            f"the push to sink {', '.join(cut_short)} was cut short, so it may hold the new "
            f"key {record.new_access_key}"
        )
    return None


def abandon_rotation(
    store: Store,
    policy: PolicyConfig,
    client: DigitalOceanClient,
    *,
    lock_dir: Path,
    reason: str,
    notify: Notify = ignore,
    fence: Fence | None = None,
) -> Abandoned:
    """Give up *policy*'s rotation in flight: record why, delete its new key, keep the old one.

    Raises UsageError when no rotation is in flight, RotatorError (nothing
    changed) when a sink may hold the new key, and RotatorError after the
    rotation was recorded abandoned if DigitalOcean would not delete the key.
    """
    lock = WriterLock(lock_dir / f"policy-{policy.name}.lock", what=f"policy {policy.name!r}")
    lock.acquire()
    try:
        records = store.rotations
        record = records.in_flight(policy.name)
        if record is None:
            raise UsageError(
                f"policy {policy.name!r} has no rotation in flight; nothing to abandon"
            )
        why_not = refusal(record)
        if why_not is not None:
            raise RotatorError(
                f"policy {policy.name!r}: rotation {record.id} cannot be abandoned: {why_not}; "
                f"finish it with `rotator rotate {policy.name}`"
            )
        records.abandon(record, reason, fence=fence, last_error=record.last_error or "")
        log.warning("policy %s: rotation %s abandoned: %s", policy.name, record.id, reason)
        deleted: list[str] = []
        failure: DigitalOceanError | None = None
        try:
            deleted = _delete_new_keys(credential_kind(policy, client), record, records)
        except DigitalOceanError as exc:
            failure = exc
        store.history.log(
            "rotation_abandoned_key_deleted"
            if failure is None
            else "rotation_abandon_delete_failed",
            policy.name,
            "ok" if failure is None else "failed",
            rotation_id=record.id,
            new_access_key=record.new_access_key,
            deleted=", ".join(deleted) or "-",
            error=str(failure) if failure else None,
        )
    finally:
        lock.release()
    notify(
        RotationAbandoned(
            policy.name,
            record.id,
            record.old_access_key,
            record.new_access_key,
            bool(deleted),
            reason,
        )
    )
    if failure is not None:
        raise RotatorError(
            f"policy {policy.name!r}: rotation {record.id} is abandoned and "
            f"{record.old_access_key} stays current, but its new key "
            f"{record.new_access_key or record.new_key_name} could not be deleted ({failure}); "
            "delete it in DigitalOcean"
        ) from failure
    return Abandoned(
        policy.name,
        record.id,
        record.state,
        record.old_access_key,
        record.new_access_key,
        tuple(deleted),
        reason,
    )


def _delete_new_keys(kind: CredentialKind, record: RotationRecord, records: Rotations) -> list[str]:
    """Delete the rotation's new key, and any key left under its planned name by a crash."""
    deleted: list[str] = []
    new = record.new_access_key
    if new is not None:
        held = None
        if kind.revoke_needs_secret:
            held = held_secret(kind, records, record, record.policy)
        if kind.revoke(new, held):
            deleted.append(new)
    for key in kind.find(record.new_key_name):
        if key not in deleted:
            kind.revoke(key)
            deleted.append(key)
    return deleted
