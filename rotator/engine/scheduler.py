"""A thin wrapper around ``schedule``: jobs due when the store says, on an injected clock.

``schedule`` keeps the jobs, orders them by their next run and runs the
pending ones. What this wrapper changes: there is no global default
scheduler; the clock is injected and gives aware UTC times (never naive
local time); and a job's next run is not "interval after the last run" but
the earliest due time of its items, asked of the job itself
(:meth:`DueJob.reschedule`), because those times live in the store and must
survive a restart. Two bounds keep the loop honest: a job is looked at again
at least every ``recheck`` (the CLI may have changed the store meanwhile),
and never sooner than ``min_gap`` after it ran (an item that stays due
cannot spin the loop).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import schedule

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DueFunction = Callable[[datetime], datetime | None]
"""now → the earliest time any of the job's items is due (None: no items)."""
Work = Callable[[datetime], Any]
"""now → anything; runs the job's due items."""

RECHECK = timedelta(seconds=30)
MIN_GAP = timedelta(seconds=1)


class DueJob(schedule.Job):
    """A job whose next run comes from its items' due times, not from a fixed period."""

    def __init__(
        self,
        scheduler: Scheduler,
        name: str,
        due: DueFunction,
        *,
        recheck: timedelta = RECHECK,
        min_gap: timedelta = MIN_GAP,
    ) -> None:
        super().__init__(1, scheduler)
        self.unit = "seconds"  # schedule insists on a unit; ours is the store's due time
        self.name = name
        self._due = due
        self._clock = scheduler.clock
        self._recheck = recheck
        self._min_gap = min_gap
        self.tag(name)

    def reschedule(self) -> None:
        """Ask the job when it is next due (and look again by ``recheck`` at the latest)."""
        self._schedule_next_run()

    def _schedule_next_run(self) -> None:
        now = self._clock()
        latest = now + self._recheck
        due = self._due(now)
        next_run = latest if due is None else min(due, latest)
        if self.last_run is not None:
            next_run = max(next_run, self.last_run + self._min_gap)
        self.next_run = next_run

    @property
    def should_run(self) -> bool:
        assert self.next_run is not None, "reschedule() before asking"
        return bool(self._clock() >= self.next_run)

    def run(self) -> Any:
        """Run the job's work with the current time, then work out its next run."""
        now = self._clock()
        self.last_run = now
        assert self.job_func is not None
        result = self.job_func(now)
        self._schedule_next_run()
        return result

    def __repr__(self) -> str:
        shown = f"{self.next_run:%Y-%m-%d %H:%M:%S}Z" if self.next_run else "-"
        return f"DueJob({self.name!r}, next_run={shown})"

    __str__ = __repr__


class Scheduler(schedule.Scheduler):
    """``schedule.Scheduler`` on an injected aware-UTC clock, holding :class:`DueJob` s."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def add(
        self,
        name: str,
        due: DueFunction,
        work: Work,
        *,
        recheck: timedelta = RECHECK,
        min_gap: timedelta = MIN_GAP,
    ) -> DueJob:
        """Schedule *work* to run whenever *due* says an item is due."""
        job = DueJob(self, name, due, recheck=recheck, min_gap=min_gap)
        job.do(work)  # schedule's own registration: computes the first run, appends the job
        return job

    def job(self, name: str) -> DueJob:
        return next(job for job in self.get_jobs(name) if isinstance(job, DueJob))

    def reschedule(self) -> None:
        """Ask every job again (after a config reload, or the store changed)."""
        for job in self.jobs:
            if isinstance(job, DueJob):
                job.reschedule()

    def run_due_once(self) -> None:
        """Run each due job once, in the order they were added (``rotator run --once``).

        Each job is asked just before its turn, since an earlier one may have
        made it due (a validation queues an alert for the outbox).
        """
        for job in list(self.jobs):
            if isinstance(job, DueJob):
                job.reschedule()
                if job.should_run:
                    self._run_job(job)

    @property
    def idle_seconds(self) -> float | None:
        """Seconds until the next job is due by the injected clock (negative: overdue)."""
        next_run = self.get_next_run()
        if next_run is None:
            return None
        return float((next_run - self.clock()).total_seconds())
