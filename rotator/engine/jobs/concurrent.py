"""Jobs whose items run on the daemon's worker pool, each admitted against its token's budget.

One run of a :class:`ConcurrentJob`:

1. lists the items due now, leaving out those still at work on the pool and
   those deferred to a later time;
2. asks :func:`~rotator.digitalocean.budget.admit_fairly` which of them may
   start now: each item names its token and the calls it needs
   (:meth:`ConcurrentJob.cost`), the oldest-due goes first, at most as many
   as there are free workers;
3. defers every refused item to the time its calls fit (``not_before``): it is
   not a failure and counts as ``deferred``;
4. starts each admitted item on a worker with its own store connection and
   the admission's reservation attached to the DigitalOcean clients it makes.
   A :class:`~rotator.errors.RateLimited` met during the item defers it too.

The job lists its due items once (one pass over every connection or
policy) and keeps them as its queue (:mod:`rotator.engine.jobs.queue`): a
worker that frees up takes the next one from the queue, and the list is read
again only when the queue has nothing left to start while none of the job's
items runs, or is stale. Costs are asked for only as far down the queue as
there are free workers.

The main loop never waits for an item. When a worker frees up, the loop
calls :meth:`ConcurrentJob.refill`, which starts the next queued items at
once (the job's next scheduled run is at least a second after its last).
Those items, and those of scheduled runs meanwhile, join the run still at
work if it began less than :data:`RUN_SPAN` ago, so a backlog gives a
summary line every few seconds, not one per item. When the last item of a
run is done, the run's summary line is logged and handed to the daemon
(metrics, the ``--once`` exit code). ``rotator run --once``
(:attr:`ConcurrentJob.drain`) waits instead: it keeps admitting until
nothing is due, sleeping (stop-aware) until a deferred item's time when that
is all that is left.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rotator.digitalocean.budget import Admission, Candidate, Round, admit_fairly, not_before
from rotator.engine.jobs.base import Job, Pass, Runtime, Summary
from rotator.engine.jobs.queue import DueQueue
from rotator.engine.lifecycle import StopRequested
from rotator.errors import RateLimited, RotatorError

if TYPE_CHECKING:
    from rotator.engine.pool import WorkerPool

log = logging.getLogger("rotator.engine.jobs")

Finished = Callable[[Summary], None]

DEFERRED = "deferred"
"""The outcome of an item whose token had no budget for it: it runs later, not a failure."""

DRAIN_DEADLINE = timedelta(hours=2)
"""``--once`` stops admitting deferred items after this long (every wait has a deadline)."""

RUN_SPAN = 10.0
"""Seconds a run in the daemon's loop takes in more items before a new run (and line) begins."""


@dataclass(frozen=True)
class Cost:
    """What an item will spend: its token's fingerprint (None: no DigitalOcean) and calls."""

    key: str | None
    calls: int


class _Batch:
    """The items one run started; the run's summary is finished with the last of them."""

    def __init__(self, summary: Summary, finished: Finished | None, runtime: Runtime) -> None:
        self.summary = summary
        self.finished = finished
        self.runtime = runtime
        self.started = time.monotonic()
        self.open = 1  # the dispatcher's own hold, let go when the run returns
        self.lock = threading.Lock()

    def join(self, runtime: Runtime) -> bool:
        """Hold the batch open to start more items in it; False when it is over or too old."""
        if runtime is not self.runtime or time.monotonic() - self.started > RUN_SPAN:
            return False
        with self.lock:
            if self.open == 0:
                return False  # its summary is out
            self.open += 1
            return True


class ConcurrentJob(Job):
    """A job whose items run side by side on the daemon's pool, inside their token's budget."""

    def __init__(self) -> None:
        super().__init__()
        self.pool: WorkerPool | None = None
        """The daemon's workers; None runs each item here, in turn (tests, tools)."""
        self.drain = False
        """``--once``: wait for every item, and for deferred ones, before returning."""
        self.queue = DueQueue()
        """The items due when last listed, that no worker has started yet."""
        self._deferred: dict[str, datetime] = {}
        self._lock = threading.RLock()
        self._current: _Batch | None = None  # the loop's latest run, which more items may join

    # -- what a job says about its items ----------------------------------------------

    def cost(self, run: Pass, item: str) -> Cost:
        """The token and the number of calls *item* needs (default: no DigitalOcean)."""
        return Cost(None, 0)

    def deferred_until(self, item: str) -> datetime | None:
        with self._lock:
            return self._deferred.get(item)

    def defer(self, item: str, until: datetime) -> None:
        """Do not start *item* before *until* (its token's budget has no room sooner).

        An item that already left the queue (it ran, and met a rate limit or
        must wait for its deployment) goes back in, to start at *until*.
        """
        with self._lock:
            self._deferred[item] = until
        self.queue.put_back(item, until)

    def _effective(self, item: str, when: datetime) -> datetime:
        until = self.deferred_until(item)
        return when if until is None else max(when, until)

    def next_due(self, run: Pass) -> datetime | None:
        running = self._running()
        # Items waiting in a fresh queue are due now: no need to list them all again.
        ready = self._queued_ready(run, None, running)
        if ready:
            return self.after_job_backoff(min(self._effective(i, w) for i, w in ready))
        times = [
            self._effective(item, when)
            for item, when in self.due_items(run).items()
            if item not in running
        ]
        return self.after_job_backoff(min(times, default=None))

    def _running(self) -> set[str]:
        return self.pool.running(self.name) if self.pool is not None else set()

    # -- one run ------------------------------------------------------------------------

    def run(
        self,
        run: Pass,
        *,
        only: Collection[str] | None = None,
        finished: Finished | None = None,
    ) -> Summary:
        batch = self._batch(run, only, finished)

        def work() -> None:
            self._dispatch(run, only, batch)
            if self.drain or self.pool is None:
                self._drain(run, only, batch)

        self.guarded_run(run, batch.summary, work)
        self._let_go(batch)  # the dispatcher's own hold on the batch
        return batch.summary

    def refill(self, run: Pass, *, finished: Finished | None = None) -> int:
        """Start queued items on the workers free now (the daemon's loop); how many started.

        Without this a freed worker waited for the job's next scheduled run,
        at least a second after its last. The due items are not listed again:
        nothing starts unless the queue is fresh and has an item ready.
        """
        if self.pool is None or self.pool.free <= 0:
            return 0
        retry = self.after_job_backoff(run.now)
        if retry is not None and retry > run.now:  # the whole job failed: its retry waits
            return 0
        if not self._queued_ready(run, None, self._running()):
            return 0
        batch = self._batch(run, None, finished)
        started = 0

        def work() -> None:
            nonlocal started
            started = self._dispatch(run, None, batch)

        self.guarded_run(run, batch.summary, work)
        self._let_go(batch)
        return started

    def _batch(self, run: Pass, only: Collection[str] | None, finished: Finished | None) -> _Batch:
        """The batch a run's items go into: in the loop, the latest run's while it may take more."""
        if only is not None or self.drain or self.pool is None:
            return _Batch(Summary(self.name), finished, run.runtime)
        with self._lock:
            current = self._current
            if current is not None and current.join(run.runtime):
                return current
            self._current = _Batch(Summary(self.name), finished, run.runtime)
            return self._current

    def _let_go(self, batch: _Batch) -> None:
        """One hold on *batch* ends (an item, or a dispatcher); the last one closes it."""
        with batch.lock:
            batch.open -= 1
            last = batch.open == 0
        if last:
            self._close(batch)

    def _due_now(
        self, run: Pass, only: Collection[str] | None, *, deferred: bool = False
    ) -> list[tuple[str, datetime]]:
        """Items due now and not running, oldest first; *deferred*: deferred ones too."""
        now = run.context.now()
        running = self._running()
        due = [
            (item, when)
            for item, when in self.due_items(run).items()
            if (only is None or item in only)
            and item not in running
            and (when if deferred else self._effective(item, when)) <= now
        ]
        return sorted(due, key=lambda pair: (pair[1], pair[0]))

    def _startable(self, run: Pass, only: Collection[str] | None) -> list[tuple[str, datetime]]:
        """The queued items that may start now (not running, not deferred).

        The due items are listed again only when the queue is stale (see
        :class:`~rotator.engine.jobs.queue.DueQueue`), or has nothing to
        start while none of the job's items runs.
        """
        running = self._running()
        ready = self._queued_ready(run, only, running)
        if ready is not None and (ready or running):
            return ready
        self.queue.fill(self._due_now(run, only, deferred=True), run.runtime, only)
        return self._ready(self.queue.items(), running, run.context.now())

    def _queued_ready(
        self, run: Pass, only: Collection[str] | None, running: set[str]
    ) -> list[tuple[str, datetime]] | None:
        """The fresh queue's items that may start now; None when the queue is stale."""
        if not self.queue.fresh(run.runtime, only):
            return None
        return self._ready(self.queue.items(), running, run.context.now())

    def _ready(
        self, queue: list[tuple[str, datetime]], running: set[str], now: datetime
    ) -> list[tuple[str, datetime]]:
        return [
            (item, when)
            for item, when in queue
            if item not in running and self._effective(item, when) <= now
        ]

    def _dispatch(self, run: Pass, only: Collection[str] | None, batch: _Batch) -> int:
        """Admit what is due now and start it; the number started."""
        due = self._startable(run, only)
        if not due:
            return 0
        budget = run.context.client_pool().budget
        now_unix = run.context.now().timestamp()
        limit = self.pool.free if self.pool is not None else None
        free_ones: list[str] = []
        decided: Round[str] = Round()
        blocked: dict[str, float] = {}  # a token refused in an earlier window stays refused
        queue = iter(due)
        # Costs are read a window at a time, only as far down as the free workers reach.
        while (room := _room(limit, decided, free_ones)) is None or room > 0:
            window = list(itertools.islice(queue, room or len(due)))
            if not window:
                break
            candidates: list[Candidate[str]] = []
            for item, when in window:
                cost = self.cost(run, item)
                if cost.key is None:
                    free_ones.append(item)
                elif cost.key in blocked:
                    decided.deferred.append((item, blocked[cost.key]))
                else:
                    candidates.append(Candidate(item, cost.key, cost.calls, when.timestamp()))
            part = admit_fairly(
                budget,
                candidates,
                now_unix,
                max_delay=1.0,
                limit=_room(limit, decided, free_ones),
            )
            decided.admitted += part.admitted
            decided.deferred += part.deferred
            keys = {candidate.item: candidate.key for candidate in candidates}
            for item, until in part.deferred:
                if until > now_unix:
                    blocked.setdefault(keys[item], until)
        started = 0
        starts: list[tuple[str, Admission | None]] = [(item, None) for item in free_ones]
        starts += [(item, admission) for item, admission in decided.admitted]
        for item, until in decided.deferred:
            if until > now_unix:  # deferred for want of budget, not for want of a worker
                self.defer(item, datetime.fromtimestamp(until, UTC))
                log.info(
                    "%s %s: deferred until %s (rate budget)",
                    self.name,
                    item,
                    f"{datetime.fromtimestamp(until, UTC):%H:%M:%S}Z",
                )
        for item, admission in starts:
            if self.pool is not None and self.pool.free <= 0:
                if admission is not None and admission.reservation is not None:
                    admission.reservation.release()
                continue
            with batch.lock:
                batch.open += 1
                batch.summary.due += 1
            # Out of the queue before it runs: a deferral on the way puts it back in.
            self.queue.take((item,))
            work = functools.partial(self._work, run, item, admission, batch)
            if self.pool is None:
                work()
            elif not self.pool.submit(self.name, item, work):
                with batch.lock:
                    batch.open -= 1
                    batch.summary.due -= 1
                if admission is not None and admission.reservation is not None:
                    admission.reservation.release()
                continue
            started += 1
        return started

    def _drain(self, run: Pass, only: Collection[str] | None, batch: _Batch) -> None:
        """Keep going until nothing is due (``--once``): wait for workers and deferrals."""
        deadline = time.monotonic() + DRAIN_DEADLINE.total_seconds()
        while time.monotonic() < deadline:
            if self.pool is not None and self.pool.running(self.name):
                # A worker that frees up takes the next item at once, not after the slowest.
                self.pool.wait_any(1.0)
                self._dispatch(run, only, batch)
                continue
            if not self._due_items_left(run, only):
                return
            if self._dispatch(run, only, batch):
                continue
            waits = [
                until
                for item, _ in self._due_items_pending(run, only)
                if (until := self.deferred_until(item)) is not None
            ]
            if not waits:
                return
            pause = (min(waits) - run.context.now()).total_seconds()
            run.context.sleep(max(0.05, min(pause, 60.0)))

    def _due_items_pending(
        self, run: Pass, only: Collection[str] | None
    ) -> list[tuple[str, datetime]]:
        """Items due by their own time, whether or not deferred (what ``--once`` still owes)."""
        now = run.context.now()
        items = self.due_items(run)
        return [
            (item, when)
            for item, when in items.items()
            if (only is None or item in only) and when <= now and self.deferred_until(item)
        ]

    def _due_items_left(self, run: Pass, only: Collection[str] | None) -> bool:
        return bool(self._due_now(run, only) or self._due_items_pending(run, only))

    # -- one item, on a worker -------------------------------------------------------------

    def _work(self, run: Pass, item: str, admission: Admission | None, batch: _Batch) -> None:
        try:
            context = run.context
            with context.open_store(writer=True) as store:
                view = Pass(store, run.runtime, context.now(), run.leasing)
                with self._reserving(view, admission):
                    work = functools.partial(self._one, view, item)
                    self.attempt(view, item, batch.summary, work)
        except StopRequested:
            log.info("%s %s: stopped; it resumes at the next start", self.name, item)
        except RotatorError as exc:  # the store could not be opened: retried with backoff
            log.warning("%s %s: %s", self.name, item, exc)
            self.settle(run, item, batch.summary, "error")
        except Exception:  # a bug must not kill the worker; the log shows it
            log.exception("%s %s: unexpected error", self.name, item)
            self.settle(run, item, batch.summary, "error")
        finally:
            if admission is not None and admission.reservation is not None:
                admission.reservation.release()
            self._let_go(batch)

    @contextmanager
    def _reserving(self, run: Pass, admission: Admission | None) -> Iterator[None]:
        if admission is None or admission.reservation is None:
            yield
            return
        with run.context.client_pool().reserving(admission.reservation):
            yield

    def _one(self, run: Pass, item: str) -> str:
        with self._lock:
            self._deferred.pop(item, None)
        try:
            return self.run_item(run, item)
        except RateLimited as exc:
            return self._rate_limited(run, item, exc)

    def _rate_limited(self, run: Pass, item: str, exc: RateLimited) -> str:
        until = datetime.fromtimestamp(not_before(exc, run.context.now().timestamp()), UTC)
        self.defer(item, until)
        log.info("%s %s: deferred until %s: %s", self.name, item, f"{until:%H:%M:%S}Z", exc)
        return DEFERRED

    def settle(self, run: Pass, item: str, summary: Summary, outcome: str) -> None:
        with self._lock:
            super().settle(run, item, summary, outcome)
            # Held by another replica, its lease lost, or failed: back in at its retry.
            retry = self.backoff.until(item)
        if retry is not None:
            self.queue.put_back(item, retry)

    def _close(self, batch: _Batch) -> None:
        summary = batch.summary
        summary.seconds = time.monotonic() - batch.started
        (log.info if summary.ok else log.warning)("%s", summary.line(), extra={"job": self.name})
        if batch.finished is not None:
            batch.finished(summary)


def _room(limit: int | None, decided: Round[str], free_ones: list[str]) -> int | None:
    """Free workers not yet given an item (None: no limit)."""
    if limit is None:
        return None
    return max(0, limit - len(decided.admitted) - len(free_ones))
