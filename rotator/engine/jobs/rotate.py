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

from rotator.engine.jobs.base import Pass
from rotator.engine.jobs.concurrent import ConcurrentJob, Cost
from rotator.engine.leasing import current_fence
from rotator.services import due, rotate
from rotator.services.rotate import WAITING
from rotator.settings import PolicyConfig

ROTATE_CALLS = 10
"""A rotation's calls: find and read the key, orphans, create, each sink's reads and writes."""
WAITING_CALLS = 2
"""One look at a waiting rotation's deployment (and its successor after SUPERSEDED)."""
REVOKE_CALLS = 2
"""Delete the previous key (and a retry)."""


def _policy(run: Pass, name: str) -> PolicyConfig:
    return next(p for p in run.settings.config.policies if p.name == name)


FIRST_LOOK = timedelta(seconds=1)
"""The first pause before looking at a waiting rotation's deployment again."""
LONGEST_LOOK = timedelta(seconds=30)
"""Pauses double up to this between looks at a waiting rotation."""


def _fingerprint(run: Pass, name: str) -> str:
    return run.store.connections.get(_policy(run, name).connection).fingerprint


class RotateJob(ConcurrentJob):
    """Rotate each policy's Spaces key when it is due, resuming interrupted rotations first."""

    name = "rotate"

    def __init__(self) -> None:
        super().__init__()
        self._looks: dict[str, int] = {}  # policy → looks at its waiting rotation so far
        self._awaited: dict[str, tuple[str, ...]] = {}  # policy → what those looks wait for
        self._started: set[str] = set()  # policies whose waiting rotation began here
        # (policy, spaces_key) → the key's created_at in DigitalOcean, for never-rotated policies.
        self._created: dict[tuple[str, str], datetime] = {}

    def interval(self, run: Pass, item: str) -> timedelta:
        return _policy(run, item).every

    def cost(self, run: Pass, item: str) -> Cost:
        record = run.store.rotations.in_flight(item)
        waiting = record is not None and record.state == WAITING
        return Cost(_fingerprint(run, item), WAITING_CALLS if waiting else ROTATE_CALLS)

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
        created = self._created.get((policy.name, policy.reference))
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
        fresh = run.store.rotations.in_flight(item) is None
        # The loop never waits for a deployment; --once follows each to the end.
        result = rotate.rotate(
            run.context,
            run.store,
            policy,
            run.notify,
            defer=not self.drain,
            fence=current_fence(),
        )
        if result.status == WAITING and not result.error:
            if fresh:
                self._started.add(item)
            # Look again soon, then less and less often: a deployment takes minutes.
            # Something new to wait for (the PUT after a wait for someone else's
            # deployment, a successor) starts the schedule over.
            awaited = tuple(o.detail.get("waiting_for", "") for o in result.sinks)
            if self._awaited.get(item) != awaited:
                self._awaited[item] = awaited
                self._looks.pop(item, None)
            looks = self._looks.get(item, 0)
            self._looks[item] = looks + 1
            pause = min(FIRST_LOOK * 2**looks, LONGEST_LOOK)
            self.defer(item, run.context.now() + pause)
            return WAITING
        self._looks.pop(item, None)
        self._awaited.pop(item, None)
        started_here = item in self._started
        self._started.discard(item)
        if result.error:
            return "failed"
        # A rotation this process started and waited for succeeded; it was not resumed.
        return "succeeded" if started_here and result.status == "resumed" else result.status

    def _first_due(self, run: Pass, policy: PolicyConfig) -> datetime:
        """When a policy rotator never rotated is first due: its key's age from DigitalOcean."""
        cache = (policy.name, policy.reference)
        if cache not in self._created:
            created = due.key_created_at(run.context, run.store, policy)
            if created is None:
                return run.now + policy.every
            self._created[cache] = created
        return self._created[cache] + policy.every


class RevokeJob(ConcurrentJob):
    """Delete each policy's previous key once its grace period is over."""

    name = "revoke"

    def interval(self, run: Pass, item: str) -> timedelta:
        return _policy(run, item).every

    def cost(self, run: Pass, item: str) -> Cost:
        return Cost(_fingerprint(run, item), REVOKE_CALLS)

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
