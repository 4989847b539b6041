"""The audit log pages with a cursor and is pruned by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rotator.settings import FileConfig
from rotator.store.history import PRUNE_BATCH
from tests.support.clock import FakeClock

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def timed(backend, keyring, clock):
    with backend.create(keyring, now=clock) as opened:
        yield opened


def _write(store, count, subject="s"):
    for number in range(count):
        store.history.log("event", subject, "ok", n=number)


def test_a_page_is_the_newest_entries_oldest_first(store):
    _write(store, 25)
    page = list(store.history.page(limit=10))
    assert [e.detail["n"] for e in page] == list(range(15, 25))


def test_the_smallest_id_of_a_page_is_the_cursor_of_the_next_older_page(store):
    _write(store, 25)
    seen = []
    before = None
    while True:
        page = list(store.history.page(limit=10, before=before))
        if not page:
            break
        seen = [e.detail["n"] for e in page] + seen
        before = page[0].id
    assert seen == list(range(25))


def test_paging_follows_the_subject_filter(store):
    for number in range(6):
        store.history.log("event", "a" if number % 2 else "b", "ok", n=number)
    first = list(store.history.page(subject="a", limit=2))
    assert [e.detail["n"] for e in first] == [3, 5]
    older = list(store.history.page(subject="a", limit=2, before=first[0].id))
    assert [e.detail["n"] for e in older] == [1]


def test_a_page_is_read_row_by_row_not_all_at_once(store):
    _write(store, 5)
    page = store.history.page(limit=5)
    assert next(page).detail["n"] == 0  # a lazy iterator: the caller holds one row at a time
    assert [e.detail["n"] for e in page] == [1, 2, 3, 4]


def test_pruning_removes_only_entries_older_than_the_cutoff(timed, clock):
    _write(timed, 3, "old")
    clock.now = START + timedelta(days=500)
    _write(timed, 2, "new")
    assert timed.history.prune(clock.now - timedelta(days=400)) == 3
    assert [e.subject for e in timed.history.page()] == ["new", "new"]
    assert timed.history.prune(clock.now - timedelta(days=400)) == 0


def test_pruning_goes_through_more_than_one_batch(timed, clock):
    _write(timed, PRUNE_BATCH * 2 + 7)
    clock.now = START + timedelta(days=1)
    timed.history.log("event", "kept", "ok")
    assert timed.history.prune(clock.now) == PRUNE_BATCH * 2 + 7
    assert [e.subject for e in timed.history.page()] == ["kept"]


def test_pruning_reads_old_timestamps_written_before_the_fixed_width_codec(timed, backend):
    timed.history.log("event", "legacy", "ok")
    backend.sql("UPDATE audit_log SET at = '2020-01-01T00:00:00+00:00'")  # older rotator's text
    assert timed.history.prune(START) == 1


def test_keep_history_is_a_store_setting_of_400_days_by_default():
    assert FileConfig().store.keep_history == timedelta(days=400)
    assert FileConfig.model_validate({"store": {"keep_history": "30d"}}).store.keep_history == (
        timedelta(days=30)
    )
