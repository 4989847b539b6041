"""The daemon's loop gives a freed worker the next due item at once.

The daemon runs in this process on a clock that never moves: its scheduler
keeps a job's next run at least a second after its last, so here a job is
run once by the scheduler and never again. Every item after the first can
only be started by the loop refilling the worker that freed up.
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
ITEMS = 6


class CountingJob(ConcurrentJob):
    """Items ``item-<n>``, all due, each done once; says when all are done."""

    name = "counting"

    def __init__(self, due: dict[str, datetime]) -> None:
        super().__init__()
        self._due = due
        self.ran: list[str] = []
        self.all_done = threading.Event()
        self._ran_lock = threading.Lock()

    def interval(self, run: Pass, item: str) -> timedelta:
        return timedelta(hours=1)

    def due_items(self, run: Pass) -> dict[str, datetime]:
        with self._ran_lock:
            return {item: when for item, when in self._due.items() if item not in self.ran}

    def run_item(self, run: Pass, item: str) -> str:
        with self._ran_lock:
            self.ran.append(item)
            if len(self.ran) == len(self._due):
                self.all_done.set()
        return "ok"


def test_a_freed_worker_starts_the_next_due_item_without_waiting_for_the_next_run(
    tmp_path: Path,
):
    clock = FakeClock()
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
    start = clock()
    due = {f"item-{n}": start - timedelta(seconds=100 - n) for n in range(ITEMS)}
    job = CountingJob(due)
    job.queue = DueQueue(clock=lambda: 0.0)  # never stale: the test's pace does not matter
    daemon = Daemon(context, environ={})
    daemon.jobs = [job]

    def stop_when_done() -> None:
        job.all_done.wait(DEADLINE)
        daemon.lifecycle.request_stop()

    stopper = threading.Thread(target=stop_when_done, daemon=True)
    stopper.start()
    code = daemon.run()
    stopper.join(DEADLINE)

    assert code == 0
    assert job.ran == sorted(due)  # every item, oldest-due first, on one worker
    assert clock() == start  # the clock never moved: no scheduled run came again
