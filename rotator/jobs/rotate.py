"""Due rotations, and revocations of previous keys past their grace period.

Rotate due: a rotation in flight is due at once (it resumes); otherwise
``current_since + every`` from the store, but not before the previous key's
grace period is over (a policy never keeps three keys alive). A policy never
rotated by rotator counts from the key's ``created_at`` in DigitalOcean, so a
key already older than ``every`` rotates at the first run; that time is asked
for once per policy and kept in memory.

Revoke due: the previous key's ``previous_revoke_after``. A failed delete is
retried with backoff and never forgotten (the store keeps the key as
previous until it is gone).

Both go through :func:`rotator.jobs.policy.policy_rotation`, exactly as
``rotator rotate`` does; the daemon's stop-aware sleep goes to the sinks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from rotator.digitalocean.spaces import find_key
from rotator.jobs.base import Job, Pass
from rotator.jobs.policy import policy_rotation
from rotator.rotation import PolicyRotation
from rotator.settings import PolicyConfig
from rotator.store import Rotations

log = logging.getLogger("rotator.jobs")


def _policy(run: Pass, name: str) -> PolicyConfig:
    return next(p for p in run.settings.config.policies if p.name == name)


@contextmanager
def _rotation(run: Pass, policy: PolicyConfig) -> Iterator[PolicyRotation]:
    alerting = run.alerting
    with policy_rotation(
        run.store,
        policy,
        run.runtime.clients,
        lock_dir=run.settings.state_dir,
        notify=alerting.rotation_event if alerting is not None else None,
        sleep=run.runtime.sleep,
    ) as rotation:
        yield rotation


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
        records = run.store.rotations
        return [
            p.name for p in run.settings.config.policies if records.in_flight(p.name) is not None
        ]

    def due_items(self, run: Pass) -> dict[str, datetime]:
        records = run.store.rotations
        return {
            policy.name: self.backoff.due(policy.name, self._due(run, records, policy))
            for policy in run.settings.config.policies
        }

    def _due(self, run: Pass, records: Rotations, policy: PolicyConfig) -> datetime:
        if records.in_flight(policy.name) is not None:
            return run.now
        keys = records.policy_keys(policy.name)
        if keys is not None:
            due = keys.current_since + policy.every
            if keys.previous_access_key is not None and keys.previous_revoke_after is not None:
                due = max(due, keys.previous_revoke_after)
            return due
        created = self._created.get((policy.name, policy.spaces_key))
        return run.now if created is None else created + policy.every

    def run_item(self, run: Pass, item: str) -> str:
        policy = _policy(run, item)
        records = run.store.rotations
        if records.in_flight(item) is None and records.policy_keys(item) is None:
            first = self._first_due(run, policy)
            if first > run.now:
                return "not_due"
        with _rotation(run, policy) as rotation:
            result = rotation.rotate()
        return "failed" if result.error else result.status

    def _first_due(self, run: Pass, policy: PolicyConfig) -> datetime:
        """When a policy rotator never rotated is first due: its key's age from DigitalOcean."""
        cache = (policy.name, policy.spaces_key)
        if cache not in self._created:
            token = run.store.connections.open_token(run.store.connections.get(policy.connection))
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
                run.store.rotations.adopt(policy.name, key.access_key)
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
        records = run.store.rotations
        due = {}
        for policy in run.settings.config.policies:
            keys = records.policy_keys(policy.name)
            if keys is not None and keys.previous_access_key is not None:
                due[policy.name] = self.backoff.due(
                    policy.name, keys.previous_revoke_after or run.now
                )
        return due

    def run_item(self, run: Pass, item: str) -> str:
        with _rotation(run, _policy(run, item)) as rotation:
            revoked = rotation.revoke_due()
        if revoked is None:
            return "not_due"
        return "revoked" if revoked else "failed"
