"""Due rotations, and revocations of previous keys past their grace period.

Rotate due: :func:`rotator.services.due.next_rotation`, the time ``rotator
status`` shows (in flight: at once; else ``current_since + every``, not
before the previous key's grace period is over). A policy never rotated by
rotator counts from the key's ``created_at`` in DigitalOcean, so a key
already older than ``every`` rotates at the first run; that time is asked
for once per policy and kept in memory.

Revoke due: :func:`rotator.services.due.next_revoke`. A failed delete is
retried with backoff and never forgotten (the store keeps the key as
previous until it is gone).

Both go through :mod:`rotator.services.rotate`, exactly as ``rotator
rotate`` does; the daemon's stop-aware sleep goes to the sinks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rotator.engine.jobs.base import Job, Pass
from rotator.engine.leasing import current_fence
from rotator.services import due, rotate
from rotator.settings import PolicyConfig


def _policy(run: Pass, name: str) -> PolicyConfig:
    return next(p for p in run.settings.config.policies if p.name == name)


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
        return due.in_flight(run.store, run.settings.config.policies)

    def due_items(self, run: Pass) -> dict[str, datetime]:
        return {
            policy.name: self.backoff.due(policy.name, self._due(run, policy))
            for policy in run.settings.config.policies
        }

    def _due(self, run: Pass, policy: PolicyConfig) -> datetime:
        when = due.next_rotation(run.store, policy, run.now)
        if when is not None:
            return when
        created = self._created.get((policy.name, policy.spaces_key))
        return run.now if created is None else created + policy.every

    def run_item(self, run: Pass, item: str) -> str:
        policy = _policy(run, item)
        # Read again now that the item's lease is held: another replica may have just
        # rotated it (then it is no longer due, and rotating again would be a second time).
        when = due.next_rotation(run.store, policy, run.now)
        if when is None:
            first = self._first_due(run, policy)
            if first > run.now:
                return "not_due"
        elif when > run.now:
            return "not_due"
        result = rotate.rotate(run.context, run.store, policy, run.notify, fence=current_fence())
        return "failed" if result.error else result.status

    def _first_due(self, run: Pass, policy: PolicyConfig) -> datetime:
        """When a policy rotator never rotated is first due: its key's age from DigitalOcean."""
        cache = (policy.name, policy.spaces_key)
        if cache not in self._created:
            created = due.key_created_at(run.context, run.store, policy)
            if created is None:
                return run.now + policy.every
            self._created[cache] = created
        return self._created[cache] + policy.every


class RevokeJob(Job):
    """Delete each policy's previous key once its grace period is over."""

    name = "revoke"

    def interval(self, run: Pass, item: str) -> timedelta:
        return _policy(run, item).every

    def due_items(self, run: Pass) -> dict[str, datetime]:
        items = {}
        for policy in run.settings.config.policies:
            when = due.next_revoke(run.store, policy, run.now)
            if when is not None:
                items[policy.name] = self.backoff.due(policy.name, when)
        return items

    def run_item(self, run: Pass, item: str) -> str:
        revoked = rotate.revoke(
            run.context, run.store, _policy(run, item), run.notify, fence=current_fence()
        )
        if revoked is None:
            return "not_due"
        return "revoked" if revoked else "failed"
