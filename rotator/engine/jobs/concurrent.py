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

A run lists its due items once (one pass over every connection or policy)
and keeps them as its queue: a worker that frees up takes the next one from
the queue, and the list is read again only when the queue has nothing left
to start (or is older than :data:`QUEUE_REFRESH`). Costs are asked for only
as far down the queue as there are free workers. Reading every item's due
time again for each worker that freed up made one run cost O(items²) store
reads on the main thread, which then held back the workers (an audit of 200
tokens in token-info mode spent more time there than on the network).

The main loop never waits for an item. When the last item of a run is done,
the run's summary line is logged and handed to the daemon (metrics, the
``--once`` exit code). ``rotator run --once`` (:attr:`ConcurrentJob.drain`)
waits instead: it keeps admitting until nothing is due, sleeping (stop-aware)
until a deferred item's time when that is all that is left.
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
from rotator.engine.jobs.base import Job, Pass, Summary
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

QUEUE_REFRESH = 10.0
"""Seconds a run's queue of due items is used before the due items are listed again."""


@dataclass(frozen=True)
class Cost:
    """What an item will spend: its token's fingerprint (None: no DigitalOcean) and calls."""

    key: str | None
    calls: int


class _Batch:
    """The items one run started; the run's summary is finished with the last of them."""

    def __init__(self, summary: Summary, finished: Finished | None, started: float) -> None:
        self.summary = summary
        self.finished = finished
        self.started = started
        self.open = 1  # the dispatcher's own hold, let go when the run returns
        self.lock = threading.Lock()
        self.queue: list[tuple[str, datetime]] | None = None
        """Items due by their own time when last listed, oldest first; started ones leave."""
        self.listed = 0.0  # when the queue was listed (monotonic seconds)


class ConcurrentJob(Job):
    """A job whose items run side by side on the daemon's pool, inside their token's budget."""

    def __init__(self) -> None:
        super().__init__()
        self.pool: WorkerPool | None = None
        """The daemon's workers; None runs each item here, in turn (tests, tools)."""
        self.drain = False
        """``--once``: wait for every item, and for deferred ones, before returning."""
        self._deferred: dict[str, datetime] = {}
        self._lock = threading.RLock()

    # -- what a job says about its items ----------------------------------------------

    def cost(self, run: Pass, item: str) -> Cost:
        """The token and the number of calls *item* needs (default: no DigitalOcean)."""
        return Cost(None, 0)

    def deferred_until(self, item: str) -> datetime | None:
        with self._lock:
            return self._deferred.get(item)

    def defer(self, item: str, until: datetime) -> None:
        """Do not start *item* before *until* (its token's budget has no room sooner)."""
        with self._lock:
            self._deferred[item] = until

    def _effective(self, item: str, when: datetime) -> datetime:
        until = self.deferred_until(item)
        return when if until is None else max(when, until)

    def next_due(self, run: Pass) -> datetime | None:
        running = self.pool.running(self.name) if self.pool is not None else set()
        times = [
            self._effective(item, when)
            for item, when in self.due_items(run).items()
            if item not in running
        ]
        return self.after_job_backoff(min(times, default=None))

    # -- one run ------------------------------------------------------------------------

    def run(
        self,
        run: Pass,
        *,
        only: Collection[str] | None = None,
        finished: Finished | None = None,
    ) -> Summary:
        summary = Summary(self.name)
        batch = _Batch(summary, finished, time.monotonic())

        def work() -> None:
            self._dispatch(run, only, batch)
            if self.drain or self.pool is None:
                self._drain(run, only, batch)

        self.guarded_run(run, summary, work)
        with batch.lock:
            batch.open -= 1  # the dispatcher's own hold on the batch
            last = batch.open == 0
        if last:
            self._close(batch)
        return summary

    def _due_now(
        self, run: Pass, only: Collection[str] | None, *, deferred: bool = False
    ) -> list[tuple[str, datetime]]:
        """Items due now and not running, oldest first; *deferred*: deferred ones too."""
        now = run.context.now()
        running = self.pool.running(self.name) if self.pool is not None else set()
        due = [
            (item, when)
            for item, when in self.due_items(run).items()
            if (only is None or item in only)
            and item not in running
            and (when if deferred else self._effective(item, when)) <= now
        ]
        return sorted(due, key=lambda pair: (pair[1], pair[0]))

    def _startable(
        self, run: Pass, only: Collection[str] | None, batch: _Batch
    ) -> list[tuple[str, datetime]]:
        """The run's queued items that may start now (not running, not deferred).

        The due items are listed again only when the queue is older than
        :data:`QUEUE_REFRESH`, or has nothing to start while nothing runs.
        """
        running = self.pool.running(self.name) if self.pool is not None else set()
        now = run.context.now()
        if batch.queue is not None and time.monotonic() - batch.listed <= QUEUE_REFRESH:
            ready = self._ready(batch.queue, running, now)
            if ready or running:
                return ready
        batch.queue = self._due_now(run, only, deferred=True)
        batch.listed = time.monotonic()
        return self._ready(batch.queue, running, now)

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
        due = self._startable(run, only, batch)
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
        launched: set[str] = set()
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
            launched.add(item)
        if batch.queue is not None and launched:
            batch.queue = [(item, when) for item, when in batch.queue if item not in launched]
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
            with batch.lock:
                batch.open -= 1
                last = batch.open == 0
            if last:
                self._close(batch)

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
