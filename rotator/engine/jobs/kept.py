"""Jobs done for every connection, whose due times are kept in the store.

An idle daemon's cost must not grow with the fleet. So a connection's next
validation or audit is worked out once, when what it depends on changed, and
kept in ``connections`` (:mod:`rotator.store.due`); each look at the job then
costs a few indexed queries, however many connections there are:

1. the *basis* — what the kept times were computed from (the intervals, the
   required scopes the config gives) — is compared with the store's; when
   the config changed, every kept time is forgotten;
2. the connections whose time is unknown (NULL: new, just validated or
   audited, new token, or forgotten in 1.) are worked out, a batch at a time;
3. :meth:`KeptDueJob.due_items` reads what is due by now, plus the soonest
   connection after now that no in-memory state (a retry backoff, a
   deferral, another replica's lease, a worker at it) overrides, plus the
   overridden ones themselves: every item that can be due, and the earliest
   time any is, without reading the rest.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rotator.engine.jobs.base import Pass
from rotator.engine.jobs.concurrent import ConcurrentJob

if TYPE_CHECKING:
    from rotator.settings import Settings
    from rotator.store.due import Unset

BATCH = 500
"""Connections worked out per transaction (memory stays bounded on a first start)."""


class KeptDueJob(ConcurrentJob):
    """A per-connection job whose due times live in the store."""

    kind: ClassVar[str]
    """Which kept due time (``validate`` or ``audit``)."""

    def __init__(self) -> None:
        super().__init__()
        self._basis: tuple[Settings, str] | None = None

    @abstractmethod
    def basis(self, settings: Settings) -> str:
        """What this job's due times are computed from, as text (equal text: same times)."""

    @abstractmethod
    def work_out(self, run: Pass, unset: list[Unset]) -> list[tuple[str, datetime]]:
        """The due time of each connection in *unset*."""

    def due_items(self, run: Pass) -> dict[str, datetime]:
        self.refresh(run)
        kept = run.store.due
        found = dict(kept.due_by(self.kind, run.now))
        overridden = self._overridden()
        found.update(kept.of(self.kind, sorted(overridden - found.keys())))
        for name, when in kept.next_after(self.kind, run.now, len(overridden) + 1):
            found.setdefault(name, when)
            if name not in overridden:
                break  # every later one is due later still, and nothing moves it sooner
        return {name: self.backoff.due(name, when) for name, when in found.items()}

    def refresh(self, run: Pass) -> int:
        """Work out every unknown due time (all of them after a config change); how many."""
        kept = run.store.due
        basis = self._basis_of(run.settings)
        if kept.basis(self.kind) != basis:
            kept.rebase(self.kind, basis)
        count = 0
        while batch := kept.unset(self.kind, BATCH):
            kept.set(self.kind, self.work_out(run, batch))
            count += len(batch)
        return count

    def _basis_of(self, settings: Settings) -> str:
        if self._basis is None or self._basis[0] is not settings:
            self._basis = (settings, self.basis(settings))
        return self._basis[1]

    def _overridden(self) -> set[str]:
        """Items whose due time is not the kept one now: backed off, deferred, held, at work."""
        names = self.backoff.keys() | self.held_elsewhere
        with self._lock:
            names |= set(self._deferred)
        if self.pool is not None:
            names |= self.pool.running(self.name)
        names.discard("*")
        return names
