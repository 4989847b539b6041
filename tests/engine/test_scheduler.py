"""The scheduler on an injected clock: due times from stored last times, jitter, backoff."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rotator.crypto import Keyring, MasterKey
from rotator.engine.jobs.base import Pass, Runtime
from rotator.engine.jobs.due import JITTER_FRACTION, Backoff, jitter, periodic_due
from rotator.engine.jobs.validate import ValidateJob
from rotator.engine.scheduler import Scheduler
from rotator.secret import Secret
from rotator.services.context import Context
from rotator.store import Store, ValidationRecord
from tests.support.clock import FakeClock

START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class Ledger:
    """Stands in for the store: when each item was last done, and a record of every run."""

    def __init__(self, names: list[str], interval: timedelta = HOUR) -> None:
        self.last: dict[str, datetime | None] = dict.fromkeys(names)
        self.interval = interval
        self.done: list[tuple[str, datetime]] = []

    def due(self, name: str, now: datetime) -> datetime:
        return periodic_due(name, self.last[name], self.interval, now)

    def next_due(self, now: datetime) -> datetime | None:
        return min((self.due(name, now) for name in self.last), default=None)

    def work(self, now: datetime) -> None:
        for name in self.last:
            if self.due(name, now) <= now:
                self.last[name] = now
                self.done.append((name, now))

    def times(self, name: str) -> list[datetime]:
        return [when for item, when in self.done if item == name]


def scheduler_for(ledger: Ledger, clock: FakeClock) -> Scheduler:
    scheduler = Scheduler(clock)
    scheduler.add("validate", ledger.next_due, ledger.work, recheck=timedelta(minutes=10))
    return scheduler


def drive(scheduler: Scheduler, clock: FakeClock, span: timedelta) -> None:
    """Run the daemon's loop on the fake clock: run what is due, then sleep until the next."""
    end = clock() + span
    for _ in range(100_000):
        scheduler.run_pending()
        idle = scheduler.idle_seconds
        assert idle is not None
        left = (end - clock()).total_seconds()
        if left <= 0:
            return
        clock.advance(timedelta(seconds=min(max(idle, 0.001), left)))
    raise AssertionError("the loop spun")


def test_a_job_runs_once_its_first_item_is_due_and_not_before():
    clock = FakeClock(START)
    ledger = Ledger(["a", "b"])
    ledger.last = {"a": START - timedelta(minutes=30), "b": START - timedelta(minutes=50)}
    scheduler = scheduler_for(ledger, clock)
    first_due = ledger.due("b", START)
    assert scheduler.job("validate").next_run == first_due
    assert scheduler.job("validate").next_run.tzinfo is not None
    clock.now = first_due - timedelta(seconds=1)
    scheduler.run_pending()
    assert ledger.done == []
    clock.now = first_due
    scheduler.run_pending()
    assert ledger.done == [("b", first_due)]


def test_a_restart_neither_repeats_work_done_nor_skips_work_due_while_it_was_down():
    names = [f"connection-{n}" for n in range(20)]
    ledger = Ledger(names)
    clock = FakeClock(START)
    drive(scheduler_for(ledger, clock), clock, 3 * HOUR)
    stopped_at = clock()
    clock.advance(timedelta(minutes=50))  # down while some items fell due
    restarted_at = clock()
    drive(scheduler_for(ledger, clock), clock, 3 * HOUR)  # a new process, the same store

    longest = HOUR
    shortest = HOUR * (1 - JITTER_FRACTION)
    for name in names:
        times = ledger.times(name)
        assert times[0] == START  # never done before: due at once
        for before, after in itertools.pairwise(times):
            if before < stopped_at < after:
                due = before + HOUR - jitter(name, HOUR)
                # Due while down: done the moment it came back; otherwise on time.
                assert after == (restarted_at if due <= restarted_at else due)
            else:
                assert shortest <= after - before <= longest
        assert len(times) >= 6
    caught_up = {name for name, when in ledger.done if when == restarted_at}
    assert 0 < len(caught_up) < len(names)


def test_jitter_is_fixed_per_name_and_below_a_tenth_of_the_interval():
    assert jitter("prod", HOUR) == jitter("prod", HOUR)
    assert jitter("prod", HOUR) != jitter("staging", HOUR)
    offsets = [jitter(f"connection-{n}", HOUR) for n in range(1000)]
    assert all(timedelta(0) <= offset < HOUR * JITTER_FRACTION for offset in offsets)
    buckets = Counter(int(offset / (HOUR * JITTER_FRACTION) * 10) for offset in offsets)
    assert all(60 <= buckets[b] <= 140 for b in range(10)), buckets


def test_jitter_spreads_a_herd_of_connections_over_the_whole_interval():
    names = [f"connection-{n}" for n in range(1000)]
    last = dict.fromkeys(names, START)  # all registered and validated at the same moment
    for _ in range(10):
        last = {name: periodic_due(name, when, HOUR, when) for name, when in last.items()}
    first = min(last.values())
    minutes = Counter(int((when - first).total_seconds() // 60) for when in last.values())
    assert len(minutes) >= 55  # about every minute of the hour has some
    assert max(minutes.values()) <= 45  # instead of 1000 at once


def test_the_next_run_is_looked_at_again_by_recheck_and_never_spins():
    clock = FakeClock(START)
    calls: list[datetime] = []
    scheduler = Scheduler(clock)
    # An item that stays due whatever the work does (it keeps failing, say).
    job = scheduler.add("stuck", lambda now: now - HOUR, calls.append, recheck=HOUR)
    for _ in range(5):
        scheduler.run_pending()
    assert len(calls) == 1
    assert job.next_run == START + timedelta(seconds=1)
    idle = Scheduler(clock)
    quiet = idle.add("nothing", lambda now: None, calls.append, recheck=timedelta(minutes=7))
    assert quiet.next_run == START + timedelta(minutes=7)
    assert idle.idle_seconds == 7 * 60


def test_once_runs_each_due_job_in_the_order_they_were_added():
    clock = FakeClock(START)
    order: list[str] = []
    scheduler = Scheduler(clock)
    scheduler.add("validate", lambda now: now, lambda now: order.append("validate"))
    scheduler.add("audit", lambda now: now + HOUR, lambda now: order.append("audit"))
    scheduler.add("rotate", lambda now: now - HOUR, lambda now: order.append("rotate"))
    scheduler.run_due_once()
    assert order == ["validate", "rotate"]


def test_backoff_retries_sooner_than_the_interval_doubling_up_to_it():
    backoff = Backoff()
    delays = [backoff.failed("prod", START, HOUR) - START for _ in range(8)]
    assert delays[:3] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert delays[-1] == HOUR
    assert backoff.due("prod", START + 5 * HOUR) == START + HOUR
    backoff.succeeded("prod")
    assert backoff.due("prod", START + 5 * HOUR) == START + 5 * HOUR
    assert backoff.failed("tiny", START, timedelta(seconds=1)) == START + timedelta(seconds=1)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    keyring = Keyring(MasterKey.from_text(MasterKey.generate_text(), "test"))
    with Store.create(tmp_path / "state", keyring, now=lambda: START) as created:
        created.connections.add("prod", "", Secret("dop_v1_" + "a" * 64), "personal", None)
        created.connections.add("staging", "", Secret("dop_v1_" + "b" * 64), "personal", None)
        created.connections.record_validation("prod", ValidationRecord("valid", "ok", START))
    return Store.open(tmp_path / "state", keyring, writer=True, now=lambda: START)


def test_validation_due_times_come_from_the_store_so_a_new_process_agrees(tmp_path, store):
    config = tmp_path / "rotator.toml"
    config.write_text('[daemon]\nvalidate_every = "1h"\n')
    context = Context(
        environ={"ROTATOR_STATE_DIR": str(tmp_path / "state")},
        config_path=config,
        sleep=lambda seconds: None,
    )
    runtime = Runtime(context)
    now = START + timedelta(minutes=5)
    with store:
        due = ValidateJob().due_items(Pass(store, runtime, now))
        again = ValidateJob().due_items(Pass(store, runtime, now + timedelta(minutes=1)))
    assert due["prod"] == START + HOUR - jitter("validate:prod", HOUR)
    assert due["staging"] == now  # never validated: due at once
    assert again["prod"] == due["prod"]
