"""Due rotations, and revocations of previous keys past their grace period.

Rotate due: :func:`rotator.services.due.rotation_due`, the time ``rotator
status`` shows (in flight: at once; else ``current_since + every``, not
before the previous key's grace period is over). A policy never rotated by
rotator counts from the key's ``created_at`` in DigitalOcean, so a key
already older than ``every`` rotates at the first run; that time is asked
for once per policy and kept in memory.

Revoke due: :func:`rotator.services.due.revoke_due`. A failed delete is
retried with backoff and never forgotten (the store keeps the key as
previous until it is gone).

Both go through :mod:`rotator.services.rotate`, exactly as ``rotator
rotate`` does; the daemon's stop-aware sleep goes to the sinks.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from rotator.digitalocean.spaces import find_key
from rotator.engine.jobs.base import Job, Pass
from rotator.rotation_store import RotationStore
from rotator.services import rotate
from rotator.services.due import revoke_due, rotation_due
from rotator.settings import PolicyConfig

log = logging.getLogger("rotator.engine.jobs")


def _policy(run: Pass, name: str) -> PolicyConfig:
    return next(p for p in run.settings.config.policies if p.name == name)


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class RotateJob(Job):
    """Rotate each policy's Spaces key when it is due, resuming interrupted rotations first."""

    name = "rotate"

    def __init__(self) -> None:
        super().__init__()
        # (policy, spaces_key) → the key's created_at in DigitalOcean, for never-rotated policies.
        self._created: dict[tuple[str, str], datetime] = {}

    def interval(self, run: Pass, item: str) -> timedelta:
        return _policy(run, item).every

    def in_flight(self, run: Pass) -> list[str]:
        """Policies with a rotation in flight (to resume before anything else)."""
        records = RotationStore(run.store)
        return [
            p.name for p in run.settings.config.policies if records.in_flight(p.name) is not None
        ]

    def due_items(self, run: Pass) -> dict[str, datetime]:
        records = RotationStore(run.store)
        return {
            policy.name: self.backoff.due(policy.name, self._due(run, records, policy))
            for policy in run.settings.config.policies
        }

    def _due(self, run: Pass, records: RotationStore, policy: PolicyConfig) -> datetime:
        keys = records.policy_keys(policy.name)
        in_flight = records.in_flight(policy.name) is not None
        due = rotation_due(policy, keys, in_flight=in_flight, now=run.now)
        if due is not None:
            return due
        created = self._created.get((policy.name, policy.spaces_key))
        return run.now if created is None else created + policy.every

    def run_item(self, run: Pass, item: str) -> str:
        policy = _policy(run, item)
        records = RotationStore(run.store)
        if records.in_flight(item) is None and records.policy_keys(item) is None:
            first = self._first_due(run, policy)
            if first > run.now:
                return "not_due"
        result = rotate.rotate(run.context, run.store, policy, run.notify)
        return "failed" if result.error else result.status

    def _first_due(self, run: Pass, policy: PolicyConfig) -> datetime:
        """When a policy rotator never rotated is first due: its key's age from DigitalOcean."""
        cache = (policy.name, policy.spaces_key)
        if cache not in self._created:
            token = run.store.open_token(run.store.get_connection(policy.connection))
            with run.runtime.clients(token) as client:
                key = find_key(client, policy.spaces_key)
            created = _parse_time(key.created_at)
            if created is None:
                # No age to go by: start counting now rather than rotate blindly.
                log.warning(
                    "policy %s: DigitalOcean gave no creation time for key %s; counting "
                    "its age from now",
                    policy.name,
                    key.access_key,
                )
                RotationStore(run.store).adopt(policy.name, key.access_key)
                return run.now + policy.every
            self._created[cache] = created
            log.info(
                "policy %s: key %s was created at %s; first rotation due at %s",
                policy.name,
                key.access_key,
                f"{created:%Y-%m-%d %H:%M:%S}Z",
                f"{created + policy.every:%Y-%m-%d %H:%M:%S}Z",
            )
        return self._created[cache] + policy.every


class RevokeJob(Job):
    """Delete each policy's previous key once its grace period is over."""

    name = "revoke"

    def interval(self, run: Pass, item: str) -> timedelta:
        return _policy(run, item).every

    def due_items(self, run: Pass) -> dict[str, datetime]:
        records = RotationStore(run.store)
        due = {}
        for policy in run.settings.config.policies:
            when = revoke_due(records.policy_keys(policy.name), now=run.now)
            if when is not None:
                due[policy.name] = self.backoff.due(policy.name, when)
        return due

    def run_item(self, run: Pass, item: str) -> str:
        revoked = rotate.revoke(run.context, run.store, _policy(run, item), run.notify)
        if revoked is None:
            return "not_due"
        return "revoked" if revoked else "failed"
