"""The worker pool: an item at work is never started twice; a stuck item holds only its worker."""

from __future__ import annotations

import threading

from rotator.engine.pool import WorkerPool

DEADLINE = 20.0


def test_an_item_at_work_is_not_started_again_and_others_go_on():
    pool = WorkerPool(2)
    release = threading.Event()
    entered = threading.Event()
    done: list[str] = []

    def stuck() -> None:
        entered.set()
        release.wait(DEADLINE)
        done.append("stuck")

    try:
        assert pool.submit("rotate", "media", stuck)
        assert entered.wait(DEADLINE)
        assert not pool.submit("rotate", "media", lambda: done.append("twice"))
        assert pool.running("rotate") == {"media"}
        assert pool.free == 1
        assert pool.submit("validate", "prod", lambda: done.append("other"))
        assert pool.wait("validate", timeout=DEADLINE)
        assert done == ["other"]  # the stuck item held up nothing else
        release.set()
        assert pool.wait(timeout=DEADLINE)
        assert done == ["other", "stuck"]
        assert pool.submit("rotate", "media", lambda: done.append("again"))  # free again
        assert pool.wait(timeout=DEADLINE)
    finally:
        release.set()
        assert pool.shutdown(timeout=DEADLINE)
    assert done == ["other", "stuck", "again"]
    assert not pool.submit("rotate", "media", lambda: None)  # shut down: nothing new


def test_a_failing_item_does_not_kill_its_worker():
    pool = WorkerPool(1)

    def boom() -> None:
        raise RuntimeError("a bug")

    try:
        assert pool.submit("audit", "a", boom)
        assert pool.wait(timeout=DEADLINE)
        ran = threading.Event()
        assert pool.submit("audit", "b", ran.set)
        assert ran.wait(DEADLINE)
    finally:
        assert pool.shutdown(timeout=DEADLINE)


def test_the_freed_hook_hears_of_an_item_only_once_its_worker_counts_as_free():
    # The daemon's loop refills a worker when told; told too early, it saw none free.
    seen: list[int] = []
    told = threading.Event()
    pool: WorkerPool

    def freed() -> None:
        seen.append(pool.free)
        told.set()

    pool = WorkerPool(1, freed=freed)
    try:
        assert pool.submit("audit", "a", lambda: None)
        assert told.wait(DEADLINE)
    finally:
        assert pool.shutdown(timeout=DEADLINE)
    assert seen == [1]
