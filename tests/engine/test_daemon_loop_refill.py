"""The daemon's loop gives a freed worker the next due item at once.

The daemon runs in this process on a clock that never moves: its scheduler
keeps a job's next run at least a second after its last, so here each job is
run once by the scheduler and never again. Every later item can only be
started by the loop refilling the worker that freed up.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

from rotator.crypto import Keyring, MasterKey
from rotator.engine.daemon import Daemon
from rotator.engine.jobs.base import Pass
from rotator.engine.jobs.concurrent import ConcurrentJob
from rotator.engine.jobs.queue import DueQueue
from rotator.services.context import Context
from rotator.store import Store
from tests.support.clock import FakeClock

DEADLINE = 30.0


class CountingJob(ConcurrentJob):
    """Items due at the given times, each done once, noted in a log shared by the jobs."""

    name = "counting"

    def __init__(self, due: dict[str, datetime], log: list[str], done: threading.Event) -> None:
        super().__init__()
        self._due = due
        self._log = log
        self.done = done
        self.ran: list[str] = []
        self._ran_lock = threading.Lock()
        self.queue = DueQueue(clock=lambda: 0.0)  # never stale: the test's pace does not matter

    def interval(self, run: Pass, item: str) -> timedelta:
        return timedelta(hours=1)

    def due_items(self, run: Pass) -> dict[str, datetime]:
        with self._ran_lock:
            return {item: when for item, when in self._due.items() if item not in self.ran}

    def run_item(self, run: Pass, item: str) -> str:
        with self._ran_lock:
            self.ran.append(item)
            self._log.append(self.name)
            if len(self.ran) == len(self._due):
                self.done.set()
        return "ok"


class OtherJob(CountingJob):
    name = "other"


def run_until_done(tmp_path: Path, clock: FakeClock, jobs: list[CountingJob]) -> None:
    """Run a one-worker daemon with *jobs* on *clock* until each has done all its items."""
    key = MasterKey.generate_text()
    with Store.create(tmp_path / "state", Keyring(MasterKey.from_text(key, "test")), now=clock):
        pass
    config = tmp_path / "rotator.toml"
    config.write_text('[daemon]\nconcurrency = 1\nvalidate_every = "1h"\naudit_every = "1h"\n')
    context = Context(
        environ={"ROTATOR_STATE_DIR": str(tmp_path / "state"), "ROTATOR_MASTER_KEY": key.reveal()},
        config_path=config,
        now=clock,
    )
    daemon = Daemon(context, environ={})
    daemon.jobs = list(jobs)

    def stop_when_done() -> None:
        for job in jobs:
            job.done.wait(DEADLINE)
        daemon.lifecycle.request_stop()

    stopper = threading.Thread(target=stop_when_done, daemon=True)
    stopper.start()
    assert daemon.run() == 0
    stopper.join(DEADLINE)


def due(clock: FakeClock, prefix: str, count: int, *, age: float = 100) -> dict[str, datetime]:
    """*count* items due in the past, the first the oldest."""
    return {f"{prefix}-{n}": clock() - timedelta(seconds=age - n) for n in range(count)}


def test_a_freed_worker_starts_the_next_due_item_without_waiting_for_the_next_run(
    tmp_path: Path,
):
    clock = FakeClock()
    start = clock()
    items = due(clock, "item", 6)
    job = CountingJob(items, [], threading.Event())

    run_until_done(tmp_path, clock, [job])

    assert job.ran == sorted(items)  # every item, oldest-due first, on one worker
    assert clock() == start  # the clock never moved: no scheduled run came again


def test_the_jobs_take_turns_at_a_freed_worker(tmp_path: Path):
    # The first job's backlog is older, but the second's items must not wait for all of it.
    clock = FakeClock()
    log: list[str] = []
    first = CountingJob(due(clock, "a", 4, age=200), log, threading.Event())
    second = OtherJob(due(clock, "b", 4), log, threading.Event())

    run_until_done(tmp_path, clock, [first, second])

    assert first.ran == sorted(first.ran) and len(first.ran) == 4
    assert second.ran == sorted(second.ran) and len(second.ran) == 4
    last_of_first = max(n for n, name in enumerate(log) if name == "counting")
    assert log.index("other") < last_of_first, log
