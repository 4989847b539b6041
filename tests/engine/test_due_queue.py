"""A concurrent job's queue of due items: oldest first, and only for what it was listed for."""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import sentinel

from rotator.engine.jobs.queue import REFRESH, DueQueue
from tests.support.clock import START

SOON = START + timedelta(seconds=30)


class Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_item_deferred_after_it_started_goes_back_in_its_place_once():
    queue = DueQueue(Monotonic())
    queue.fill([("b", START), ("a", START), ("c", SOON)], sentinel.runtime, None)
    queue.take(["a"])

    queue.put_back("a", START + timedelta(seconds=10))
    queue.put_back("a", START + timedelta(seconds=20))  # it is queued already
    queue.put_back("b", SOON)  # never left: keeps its place

    assert queue.items() == [("b", START), ("a", START + timedelta(seconds=10)), ("c", SOON)]


def test_a_queue_answers_only_for_its_config_and_subset_and_only_while_fresh():
    clock = Monotonic()
    queue = DueQueue(clock)
    runtime = sentinel.runtime
    assert not queue.fresh(runtime, None)  # never listed

    queue.fill([("a", START)], runtime, ["a", "b"])
    assert queue.fresh(runtime, ["b", "a"])
    assert not queue.fresh(runtime, None)  # another subset
    assert not queue.fresh(sentinel.reloaded, ["a", "b"])  # another config
    clock.now += REFRESH + 1
    assert not queue.fresh(runtime, ["a", "b"])  # stale: list again
