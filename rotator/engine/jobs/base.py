"""What every daemon job shares: its world, one pass over the store, and its summary.

A job lists its items (connections or policies) with the time each is due
(:mod:`rotator.engine.jobs.due`), does the due ones, and isolates each: one item's
failure is logged and counted, retried later with backoff, and the others go
on. Every run ends with one summary line in the log.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from rotator import logs
from rotator.engine.jobs.due import MAX_RETRY, Backoff
from rotator.engine.leasing import Leasing, claimed
from rotator.engine.lifecycle import StopRequested
from rotator.errors import LeaseLost, RotatorError
from rotator.events import Notify, ignore

if TYPE_CHECKING:
    from rotator.alerting import Alerting
    from rotator.services.clients import ClientFactory
    from rotator.services.context import Context
    from rotator.settings import Settings
    from rotator.store import Store

log = logging.getLogger("rotator.engine.jobs")

_WHOLE_JOB = "*"  # the backoff key for a job that failed as a whole (store unreadable, a bug)
# The structured log field each job's items are named in (see rotator.logs.fields).
_ITEM_FIELDS = {
    "validate": "connection",
    "audit": "connection",
    "rotate": "policy",
    "revoke": "policy",
}
# Outcomes of an item another replica works on: not failures, deferred until its lease ends.
HELD = "held_elsewhere"
LEASE_LOST = "lease_lost"
LEASE_MARGIN = timedelta(seconds=1)


def lease_item(job: str, item: str) -> str:
    """The lease an item of *job* is worked under (a policy's rotation and revoke share one)."""
    return f"policy:{item}" if _ITEM_FIELDS.get(job) == "policy" else f"{job}:{item}"


@dataclass(frozen=True)
class Runtime:
    """One configuration's world; the daemon builds a new one on every good reload.

    Its context's ``sleep`` is stop-aware: it raises StopRequested when the
    daemon is asked to stop.
    """

    context: Context

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def clients(self) -> ClientFactory:
        return self.context.clients()


@dataclass
class Pass:
    """One look at the store: what a job reads its due times from and works on."""

    store: Store
    runtime: Runtime
    now: datetime
    leasing: Leasing | None = None
    """This replica's leases (the daemon's); None: work without leases (tests, one-offs)."""
    _alerting: Alerting | None = field(default=None, init=False)
    _alerting_built: bool = field(default=False, init=False)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def context(self) -> Context:
        return self.runtime.context

    @property
    def alerting(self) -> Alerting | None:
        """The alerting of this pass's store (None without alert channels), built once."""
        if not self._alerting_built:
            self._alerting = self.runtime.context.alerting(self.store)
            self._alerting_built = True
        return self._alerting

    @property
    def notify(self) -> Notify:
        """Where this pass's jobs report their events (alerts are sent by the outbox job)."""
        alerting = self.alerting
        return alerting.handle if alerting is not None else ignore


@dataclass
class Summary:
    """What one run of a job came to; :meth:`line` is its summary log line."""

    job: str
    due: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    error: str | None = None
    seconds: float = 0.0

    def count(self, outcome: str, *, failed: bool = False) -> None:
        self.outcomes[outcome] += 1
        self.failed += failed

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.error is None

    def line(self) -> str:
        shown = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()))
        text = f"job {self.job}: {self.due} due"
        text += f"; {shown}" if shown else ""
        text += f"; {self.failed} failed in {self.seconds:.2f}s"
        if self.error:
            text += f"; stopped early: {self.error}"
        return text


class Job(ABC):
    """A kind of work the daemon does for many items, each when it is due."""

    name: ClassVar[str]
    failed_outcomes: ClassVar[frozenset[str]] = frozenset({"failed", "error"})

    def __init__(self) -> None:
        self.backoff = Backoff()
        # Items last found held by another replica: each run watches them, to take one
        # over as soon as its lease ends (even when it was not due when the run began).
        self.held_elsewhere: set[str] = set()
        self._waiting: list[str] = []

    @abstractmethod
    def due_items(self, run: Pass) -> dict[str, datetime]:
        """Every item this job looks after, with the time it is next due."""

    @abstractmethod
    def interval(self, run: Pass, item: str) -> timedelta:
        """The item's normal interval (backoff never waits longer)."""

    def next_due(self, run: Pass) -> datetime | None:
        """The earliest due time of any item (None when there are none), after any job backoff."""
        return self.after_job_backoff(min(self.due_items(run).values(), default=None))

    def after_job_backoff(self, due: datetime | None) -> datetime | None:
        """*due*, but not before the retry of a run that failed as a whole."""
        retry = self.backoff.until(_WHOLE_JOB)
        if due is None or retry is None:
            return due
        return max(due, retry)

    def guarded_run(self, run: Pass, summary: Summary, work: Callable[[], None]) -> None:
        """Do a run's *work*: a failure of the whole run is the summary's error, never raised.

        A failed run backs the job off (the items still look due; without it the
        loop would retry at once, forever); a good one ends that backoff.
        """
        try:
            work()
        except StopRequested:
            raise
        except RotatorError as exc:
            summary.error = str(exc)
        except Exception as exc:  # a bug must not stop the daemon; the log shows it
            log.exception("job %s: unexpected error", self.name)
            summary.error = f"unexpected {type(exc).__name__}"
        if summary.error is None:
            self.backoff.succeeded(_WHOLE_JOB)
        else:
            self.backoff.failed(_WHOLE_JOB, run.now, MAX_RETRY)

    def run(
        self,
        run: Pass,
        *,
        only: Collection[str] | None = None,
        finished: Callable[[Summary], None] | None = None,
    ) -> Summary:
        """Do every item due now (of *only*, if given), each isolated; log one summary line.

        *finished* hears the summary once every item is done (here: before returning).
        """
        started = time.monotonic()
        summary = Summary(self.name)

        def work() -> None:
            items = self.due_items(run)
            due = [
                item
                for item, when in sorted(items.items())
                if when <= run.now and (only is None or item in only)
            ]
            self._waiting = [
                item
                for item in sorted(self.held_elsewhere)
                if item in items and item not in due and (only is None or item in only)
            ]
            summary.due = len(due)
            self.run_items(run, due, summary)

        self.guarded_run(run, summary, work)
        summary.seconds = time.monotonic() - started
        (log.info if summary.ok else log.warning)("%s", summary.line(), extra={"job": self.name})
        if finished is not None:
            finished(summary)
        return summary

    def run_items(self, run: Pass, items: Iterable[str], summary: Summary) -> None:
        """Do each item in turn (a job may override this to batch them).

        An item another replica held comes back in this same run as soon as
        that lease has ended, before the next item: a replica's failover is
        bounded by the lease, not by how long the survivor's run lasts.
        """
        queue, held = list(items), list(self._waiting)
        while queue or held:
            now = run.store.now()
            ready = [item for item in held if (self.backoff.until(item) or now) <= now]
            if ready:
                item = ready[0]
                held.remove(item)
            elif queue:
                item = queue.pop(0)
            else:
                break  # only items still held elsewhere: the scheduler comes back for them
            work = functools.partial(self.run_item, run, item)
            if self.attempt(run, item, summary, work) == HELD:
                held.append(item)

    def run_item(self, run: Pass, item: str) -> str:
        """Do one item; return its outcome (one of :attr:`failed_outcomes` counts as failed)."""
        raise NotImplementedError

    def attempt(self, run: Pass, item: str, summary: Summary, work: Callable[[], str]) -> str:
        """Run *work* for one item, recording its outcome and any failure, never raising one."""
        fields = {"job": self.name, _ITEM_FIELDS.get(self.name, "item"): item}
        try:
            with (
                logs.fields(**fields),
                claimed(run.leasing, run.store, lease_item(self.name, item)) as claim,
            ):
                if claim is not None and claim.fence is None:
                    log.info(
                        "%s %s: %s holds it for %.0fs more; deferred",
                        self.name,
                        item,
                        claim.holder or "another replica",
                        claim.remaining.total_seconds(),
                        extra=fields,
                    )
                    self.backoff.defer(item, run.store.now() + claim.remaining + LEASE_MARGIN)
                    outcome = HELD
                else:
                    outcome = work()
        except StopRequested:
            raise
        except LeaseLost:
            # Logged and counted by claimed(); another replica carries the item on.
            if run.leasing is not None:
                self.backoff.defer(item, run.store.now() + run.leasing.ttl + LEASE_MARGIN)
            outcome = LEASE_LOST
        except RotatorError as exc:
            log.warning("%s %s: %s", self.name, item, exc, extra=fields)
            outcome = "error"
        except Exception:  # a bug in one item must not stop the others
            log.exception("%s %s: unexpected error", self.name, item, extra=fields)
            outcome = "error"
        self.settle(run, item, summary, outcome)
        return outcome

    @contextlib.contextmanager
    def claim_all(self, run: Pass, items: Iterable[str], summary: Summary) -> Iterator[list[str]]:
        """For a job that does its items together: hold the lease of each it can, yield those.

        An item another replica holds is counted as held elsewhere and deferred.
        """
        with contextlib.ExitStack() as held:
            mine = []
            for item in items:
                claim = held.enter_context(
                    claimed(run.leasing, run.store, lease_item(self.name, item))
                )
                if claim is not None and claim.fence is None:
                    self.backoff.defer(item, run.store.now() + claim.remaining + LEASE_MARGIN)
                    self.held_elsewhere.add(item)
                    summary.count(HELD)
                    continue
                self.held_elsewhere.discard(item)
                mine.append(item)
            yield mine

    def settle(self, run: Pass, item: str, summary: Summary, outcome: str) -> None:
        """Count an item's outcome and start or end its backoff."""
        failed = outcome in self.failed_outcomes
        summary.count(outcome, failed=failed)
        if outcome in (HELD, LEASE_LOST):
            self.held_elsewhere.add(item)
            return  # deferred until the other replica's lease ends
        self.held_elsewhere.discard(item)
        if failed:
            retry = self.backoff.failed(item, run.now, self.interval(run, item))
            log.info("%s %s: retrying at %s", self.name, item, f"{retry:%Y-%m-%d %H:%M:%S}Z")
        else:
            self.backoff.succeeded(item)
