"""Fair sharing of rate budgets by the concurrent engine (issue item 5), and its queue.

Each token has its own budget; the items of a token that has too little
left for all of them go oldest-due first, the rest are deferred (not failed)
to when the budget fits them, and a cheap item never overtakes an older,
dearer one of the same token. The items make no HTTP calls: what is under
test is the engine's admission and order, on a fake clock.

The daemon's loop refills a freed worker from the job's queue of due items
at once, without listing every item's due time again; an item deferred after
it started goes back into the queue at its time; a reload lists again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rotator.crypto import Keyring, MasterKey
from rotator.digitalocean.budget import RateBudget
from rotator.engine.jobs.base import Pass, Runtime
from rotator.engine.jobs.concurrent import ConcurrentJob, Cost
from rotator.engine.pool import WorkerPool
from rotator.errors import RateLimited
from rotator.services.context import Context
from rotator.store import Store
from tests.support.clock import START, FakeClock

RESET = 3000.0  # seconds after START at which token A's hour frees up


class FairJob(ConcurrentJob):
    """Items named ``<token>-<n>``, due at the given times, each costing the given calls."""

    name = "fair"

    def __init__(self, due: dict[str, datetime], calls: dict[str, int], clock: FakeClock):
        super().__init__()
        self._due = due
        self._calls = calls
        self._clock = clock
        self.ran: list[tuple[str, float]] = []  # (item, fake time it ran at)
        self.listings = 0  # how often every item's due time was read
        self.refuse: set[str] = set()  # items whose next run meets a 429 (30 s)
        self._done: set[str] = set()
        self._ran_lock = threading.Lock()

    def interval(self, run: Pass, item: str) -> timedelta:
        return timedelta(hours=1)

    def due_items(self, run: Pass) -> dict[str, datetime]:
        self.listings += 1
        with self._ran_lock:
            return {item: when for item, when in self._due.items() if item not in self._done}

    def cost(self, run: Pass, item: str) -> Cost:
        return Cost(item.split("-")[0], self._calls[item])

    def run_item(self, run: Pass, item: str) -> str:
        with self._ran_lock:
            if item in self.refuse:
                self.refuse.discard(item)
                raise RateLimited(429, "too many requests", retry_after=30)
            self.ran.append((item, self._clock.seconds() - START.timestamp()))
            self._done.add(item)
        return "ok"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def budget(clock: FakeClock) -> RateBudget:
    """Token A has 25 calls left in its hour until RESET; token B has plenty."""
    budget = RateBudget(requests_per_minute=250, requests_per_hour=5000)
    ticket = budget.acquire("A", clock.seconds())
    headers = {
        "ratelimit-limit": "100",
        "ratelimit-remaining": "25",
        "ratelimit-reset": str(int(clock.seconds() + RESET)),
    }
    budget.observe(ticket, headers, clock.seconds())
    return budget


@pytest.fixture
def run(tmp_path: Path, clock: FakeClock, budget: RateBudget) -> Pass:
    key = MasterKey.generate_text()
    with Store.create(tmp_path / "state", Keyring(MasterKey.from_text(key, "test")), now=clock):
        pass
    config = tmp_path / "rotator.toml"
    config.write_text("")
    context = Context(
        environ={"ROTATOR_STATE_DIR": str(tmp_path / "state"), "ROTATOR_MASTER_KEY": key.reveal()},
        config_path=config,
        now=clock,
        sleep=clock.sleep,
        budget=budget,
    )
    store = context.open_store(writer=True)
    yield Pass(store, Runtime(context), clock())
    store.close()


def ago(clock: FakeClock, seconds: float) -> datetime:
    return clock() - timedelta(seconds=seconds)


def test_each_token_has_its_own_budget_and_a_shared_one_goes_oldest_due_first(run, clock):
    due = {
        "A-1": ago(clock, 500),
        "A-2": ago(clock, 400),
        "B-1": ago(clock, 300),
        "A-3": ago(clock, 200),
        "A-4": ago(clock, 100),
        "A-5": ago(clock, 50),
    }
    job = FairJob(due, dict.fromkeys(due, 10), clock)

    summary = job.run(run)

    order = [item for item, _ in job.ran]
    # A's 25 calls take its two oldest; B is not held back by A; the rest of A waits
    # for its reset, deferred (not failed), and then still goes oldest first.
    assert order == ["A-1", "A-2", "B-1", "A-3", "A-4", "A-5"]
    at = dict(job.ran)
    assert at["A-1"] == at["A-2"] == at["B-1"] == 0.0
    assert all(at[item] >= RESET for item in ("A-3", "A-4", "A-5"))
    assert summary.failed == 0
    assert summary.error is None


def test_a_cheap_item_of_a_refused_token_does_not_overtake_an_older_dear_one(run, clock):
    # Two free workers: costs are asked for a window of two items at a time, and a
    # token refused in one window stays refused in the next one.
    due = {
        "A-dear": ago(clock, 400),
        "B-1": ago(clock, 300),
        "A-cheap": ago(clock, 200),
        "B-2": ago(clock, 100),
    }
    calls = {"A-dear": 30, "B-1": 1, "A-cheap": 2, "B-2": 1}
    job = FairJob(due, calls, clock)
    job.pool = WorkerPool(2)
    job.drain = True
    try:
        summary = job.run(run)
    finally:
        job.pool.shutdown()

    at = dict(job.ran)
    assert set(at) == set(due)
    assert at["B-1"] == at["B-2"] == 0.0
    # A-cheap would fit A's 25 calls at once, but A-dear is older and was refused.
    assert at["A-dear"] >= RESET
    assert at["A-cheap"] >= RESET
    assert summary.failed == 0


@pytest.fixture
def one_worker() -> Iterator[WorkerPool]:
    pool = WorkerPool(1)
    yield pool
    pool.shutdown()


def test_each_freed_worker_takes_the_next_queued_item_without_listing_every_due_time(
    run, clock, one_worker
):
    # The daemon's loop: one worker, five items due. Reading every due time again for
    # each worker that freed up made a run cost O(items²) store reads.
    due = {f"B-{n}": ago(clock, 100 - n) for n in range(5)}
    job = FairJob(due, dict.fromkeys(due, 1), clock)
    job.pool = one_worker
    job.run(run)
    for _ in range(len(due) - 1):
        assert one_worker.wait(timeout=30)
        assert job.next_due(run) <= clock()  # answered from the queue
        assert job.refill(run) == 1  # the next item starts at once
    assert one_worker.wait(timeout=30)
    assert job.refill(run) == 0  # nothing queued is left to start

    assert [item for item, _ in job.ran] == sorted(due)  # oldest-due first
    assert job.listings == 1


def test_an_item_deferred_after_it_started_goes_back_in_the_queue_at_its_time(
    run, clock, one_worker
):
    due = {"B-1": ago(clock, 200), "B-2": ago(clock, 100)}
    job = FairJob(due, dict.fromkeys(due, 1), clock)
    job.refuse = {"B-1"}  # its first run meets a 429 that says: 30 s
    job.pool = one_worker
    job.run(run)
    assert one_worker.wait(timeout=30)
    assert job.refill(run) == 1  # B-2
    assert one_worker.wait(timeout=30)
    assert job.refill(run) == 0  # B-1 waits for its time
    clock.advance(31)
    assert job.refill(run) == 1
    assert one_worker.wait(timeout=30)

    assert [item for item, _ in job.ran] == ["B-2", "B-1"]
    assert dict(job.ran)["B-1"] >= 30
    assert job.listings == 1


def test_a_reloaded_config_does_not_start_the_items_queued_under_the_old_one(
    run, clock, one_worker
):
    due = {f"B-{n}": ago(clock, 100 - n) for n in range(3)}
    job = FairJob(due, dict.fromkeys(due, 1), clock)
    job.pool = one_worker
    job.run(run)
    assert one_worker.wait(timeout=30)
    reloaded = Pass(run.store, Runtime(run.context), clock())  # what a SIGHUP builds

    assert job.refill(reloaded) == 0  # the queue was listed for the old config
    assert job.listings == 1
    job.run(reloaded)  # the scheduled run lists again, for the new config
    assert job.listings == 2
    assert one_worker.wait(timeout=30)
    assert [item for item, _ in job.ran] == ["B-0", "B-1"]
