"""The engine's leases: each item is claimed around its work, deferred when another holds it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from rotator.crypto import Keyring, MasterKey
from rotator.engine.jobs.base import HELD, LEASE_LOST, Job, Pass, lease_item
from rotator.engine.leasing import Leasing, claimed, current_fence
from rotator.errors import LeaseLost
from rotator.store import Store, policy_item

TTL = timedelta(seconds=30)


KEYRING = Keyring(MasterKey.from_text(MasterKey.generate_text(), "test"))


@pytest.fixture
def store(tmp_path):
    Store.create(tmp_path / "state", KEYRING).close()
    with Store.open(tmp_path / "state", KEYRING, writer=True) as opened:  # shares the lock
        yield opened


def renewing(store: Store, name: str) -> Leasing:
    """A leasing whose renewer opens the store afresh each round, as the daemon's does."""
    assert store.path is not None
    state_dir = store.path.parent
    return Leasing(
        lambda: Store.open(state_dir, KEYRING, writer=True),
        lambda: timedelta(seconds=3),
        replica=name,
    )


def leasing(store: Store, name: str, ttl: timedelta = TTL) -> Leasing:
    return Leasing(lambda: store, lambda: ttl, replica=name)


class Recorder(Job):
    name = "rotate"

    def __init__(self, work) -> None:
        super().__init__()
        self.work = work
        self.fences: list[object] = []

    def due_items(self, run):
        return {"media": self.backoff.due("media", run.now)}

    def interval(self, run, item):
        return timedelta(hours=1)

    def run_item(self, run, item):
        self.fences.append(current_fence())
        return self.work()


def run_once(job: Job, store: Store, lease: Leasing | None):
    run = Pass(store, runtime=None, now=store.now(), leasing=lease)  # type: ignore[arg-type]
    return job.run(run)


def test_the_work_runs_under_its_items_lease_and_releases_it(store):
    job = Recorder(lambda: "succeeded")
    summary = run_once(job, store, leasing(store, "a"))
    assert summary.outcomes == {"succeeded": 1}
    [fence] = job.fences
    assert fence.item == policy_item("media") == lease_item("rotate", "media")
    assert store.leases.held() == []  # released at the end
    assert current_fence() is None


def test_an_item_another_replica_holds_is_deferred_not_failed(store):
    store.leases.claim(policy_item("media"), "b", TTL)
    job = Recorder(lambda: "succeeded")
    summary = run_once(job, store, leasing(store, "a"))
    assert summary.outcomes == {HELD: 1} and summary.ok
    assert job.fences == []  # never ran
    retry = job.backoff.until("media")
    assert retry is not None
    assert store.now() + TTL - timedelta(seconds=5) < retry <= store.now() + TTL + timedelta(2)
    assert job.next_due(Pass(store, None, store.now(), None)) == retry  # type: ignore[arg-type]


def test_a_lost_lease_stops_the_item_counts_it_and_defers_it(store):
    def lose():
        raise LeaseLost("lease lost on policy:media: token 1 is stale")

    mine = leasing(store, "a")
    job = Recorder(lose)
    summary = run_once(job, store, mine)
    assert summary.outcomes == {LEASE_LOST: 1} and summary.failed == 0
    assert mine.lost_total == 1
    assert job.backoff.until("media") is not None


def test_without_leasing_nothing_is_claimed(store):
    job = Recorder(lambda: "succeeded")
    run_once(job, store, None)
    assert job.fences == [None]
    assert store.leases.get(policy_item("media")) is None


def test_the_renewer_keeps_a_lease_alive_and_the_heartbeat_fresh(store):
    mine = renewing(store, "a")
    with claimed(mine, store, "validate:prod") as claim:
        assert claim is not None and claim.fence is not None
        mine.start()
        try:
            time.sleep(4)  # longer than the TTL: alive only because it was renewed
            store.leases.check(claim.fence)
        finally:
            mine.stop()
    assert store.leases.replicas() == []  # a clean stop leaves the list
    assert not store.leases.get("validate:prod").alive  # and releases what it held


def test_the_heartbeat_lists_the_replica(store):
    mine = renewing(store, "a")
    mine.renew_all()
    [replica] = store.leases.replicas()
    assert replica.id == "a" and replica.pid > 0


def test_the_renewer_notices_a_lease_taken_over(store):
    mine = renewing(store, "a")
    claim = mine.claim(store, "audit:prod")
    assert claim.fence is not None
    store.leases.claim("audit:prod", "a", TTL)  # a newer token (as a takeover would)
    mine.renew_all()
    assert mine.is_lost(claim.fence)
    assert mine.lost_total == 1
    assert store.leases.replicas()[0].leases_lost == 1
    assert isinstance(store.now(), datetime)


def test_a_held_item_comes_back_in_the_same_run_once_its_lease_ends(store):
    store.leases.claim(policy_item("alpha"), "b", timedelta(milliseconds=500))
    done: list[str] = []

    class Two(Recorder):
        def due_items(self, run):
            return {name: self.backoff.due(name, run.now) for name in ("alpha", "beta")}

        def run_item(self, run, item):
            if item == "beta":
                time.sleep(2)  # long enough for the other replica's lease to end
            done.append(item)
            return "succeeded"

    summary = run_once(Two(lambda: "unused"), store, leasing(store, "a"))
    assert done == ["beta", "alpha"]  # alpha deferred, then taken over within the same run
    assert summary.outcomes == {HELD: 1, "succeeded": 2}


def test_an_item_deferred_by_an_earlier_run_is_taken_over_during_the_next(store):
    store.leases.claim(policy_item("alpha"), "b", timedelta(milliseconds=500))
    done: list[str] = []
    slow = [0.0]

    class Two(Recorder):
        def due_items(self, run):
            return {name: self.backoff.due(name, run.now) for name in ("alpha", "beta")}

        def run_item(self, run, item):
            if item == "beta":
                time.sleep(slow[0])
            done.append(item)
            return "succeeded"

    job = Two(lambda: "unused")
    mine = leasing(store, "a")
    first = run_once(job, store, mine)
    assert first.outcomes == {HELD: 1, "succeeded": 1}  # alpha held, beta done at once
    slow[0] = 2.0  # the other replica's lease ends while beta runs again
    second = run_once(job, store, mine)  # alpha is not due when it starts: deferred
    assert second.due == 1  # beta only
    assert done == ["beta", "beta", "alpha"]  # alpha taken over once its lease ended
    assert second.outcomes == {"succeeded": 2}
    assert job.held_elsewhere == set()
