"""The rate budget shared by replicas, on both backends: reserve, age out, give back, correct."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from rotator.store import Store
from rotator.store.budgets import SLOT_MS, SLOTS, Limits

KEY = "fp:prod"
LIMITS = Limits(per_minute=60, per_hour=5000)


@contextmanager
def _two(backend, keyring) -> Iterator[tuple[Store, Store]]:
    """Two connections to one store, as two replicas (or two processes) have."""
    backend.create(keyring).close()
    with backend.open(keyring, writer=True) as first, backend.open(keyring, writer=True) as second:
        yield first, second


def _age(backend, seconds: int) -> None:
    """Let *seconds* (a multiple of a slot) pass for the row, by the database clock's measure."""
    assert seconds * 1000 % SLOT_MS == 0
    backend.sql(
        "UPDATE rate_budgets SET minute_slot = minute_slot - ?, updated_at = updated_at - ?, "
        "blocked_until = blocked_until - ?",
        (seconds * 1000 // SLOT_MS, seconds * 1000, seconds * 1000),
    )


def test_a_minute_is_counted_over_the_current_slot_and_the_twelve_before():
    assert SLOT_MS * (SLOTS - 1) == 60_000  # never less than a whole minute back


def test_a_new_token_grants_a_whole_minute_at_once_and_no_more(store):
    assert store.budgets.get(KEY, LIMITS) is None
    assert store.budgets.reserve(KEY, 37, LIMITS).granted
    assert store.budgets.reserve(KEY, 23, LIMITS).granted
    refused = store.budgets.reserve(KEY, 1, LIMITS)
    assert not refused.granted
    # Both grants stay counted for at least the minute (60 to 65 s).
    assert timedelta(seconds=60) <= refused.wait <= timedelta(seconds=65)
    row = store.budgets.get(KEY, LIMITS)
    assert row is not None and row.minute_used == 60
    assert 5000 - 60 <= row.hour_tokens < 5000 - 59


def test_two_store_connections_on_one_token_never_grant_more_than_the_limit(backend, keyring):
    with _two(backend, keyring) as (first, second):
        granted = 0
        for number in range(20):
            store = first if number % 2 else second
            if store.budgets.reserve(KEY, 10, LIMITS).granted:
                granted += 10
        assert granted == 60  # each alone would have granted 60 too


def test_calls_leave_the_minute_by_the_database_clock(store, backend):
    assert store.budgets.reserve(KEY, 40, LIMITS).granted
    _age(backend, 30)
    assert store.budgets.reserve(KEY, 20, LIMITS).granted
    refused = store.budgets.reserve(KEY, 10, LIMITS)
    assert not refused.granted
    assert timedelta(seconds=30) <= refused.wait <= timedelta(seconds=35)  # when the 40 go
    _age(backend, 35)
    assert store.budgets.reserve(KEY, 40, LIMITS).granted  # the first 40 no longer count
    assert not store.budgets.reserve(KEY, 1, LIMITS).granted  # the 20 still do
    _age(backend, 3600)
    assert store.budgets.reserve(KEY, 60, LIMITS).granted


def test_an_item_larger_than_the_limit_waits_for_an_empty_minute(store, backend):
    assert store.budgets.reserve(KEY, 1, LIMITS).granted
    refused = store.budgets.reserve(KEY, 100, LIMITS)
    assert not refused.granted
    _age(backend, 65)
    assert store.budgets.reserve(KEY, 100, LIMITS).granted
    assert not store.budgets.reserve(KEY, 1, LIMITS).granted


def test_release_gives_back_unused_calls_where_they_were_taken(store, backend):
    first = store.budgets.reserve(KEY, 50, LIMITS)
    assert first.granted
    assert not store.budgets.reserve(KEY, 30, LIMITS).granted
    store.budgets.release(KEY, 20, first.mark, LIMITS)
    assert store.budgets.reserve(KEY, 30, LIMITS).granted
    store.budgets.release(KEY, 100, first.mark, LIMITS)  # never below nothing
    row = store.budgets.get(KEY, LIMITS)
    assert row is not None and row.minute_used == 0
    assert store.budgets.reserve(KEY, 60, LIMITS).granted
    assert not store.budgets.reserve(KEY, 1, LIMITS).granted
    store.budgets.release(KEY, 0, first.mark, LIMITS)  # nothing to give: nothing happens
    store.budgets.release("fp:unknown", 3, first.mark, LIMITS)
    assert store.budgets.get("fp:unknown", LIMITS) is None


def test_a_release_after_its_slot_left_the_minute_gives_nothing_back(store, backend):
    old = store.budgets.reserve(KEY, 10, LIMITS)
    _age(backend, 70)  # the row's slots, and so the grant's mark, are 14 slots older
    assert store.budgets.reserve(KEY, 60, LIMITS).granted
    store.budgets.release(KEY, 10, old.mark - 70_000 // SLOT_MS, LIMITS)
    assert not store.budgets.reserve(KEY, 1, LIMITS).granted


def test_a_429_blocks_every_connection_until_its_retry_after(backend, keyring):
    with _two(backend, keyring) as (first, second):
        assert first.budgets.reserve(KEY, 1, LIMITS).granted
        first.budgets.block(KEY, 30, LIMITS)
        refused = second.budgets.reserve(KEY, 1, LIMITS)
        assert not refused.granted
        assert timedelta(seconds=28) < refused.wait <= timedelta(seconds=30)
        first.budgets.block(KEY, 5, LIMITS)  # a shorter block does not shorten it
        assert second.budgets.reserve(KEY, 1, LIMITS).wait > timedelta(seconds=25)
        _age(backend, 35)
        assert second.budgets.reserve(KEY, 1, LIMITS).granted


def test_a_block_on_a_new_token_makes_its_row(store):
    store.budgets.block("fp:new", 10, LIMITS)
    row = store.budgets.get("fp:new", LIMITS)
    assert row is not None and row.blocked_for > timedelta(seconds=8)
    assert row.minute_used == 0
    assert not store.budgets.reserve("fp:new", 1, LIMITS).granted


def test_a_reported_hour_is_seen_by_the_other_connection(backend, keyring):
    with _two(backend, keyring) as (first, second):
        assert first.budgets.reserve(KEY, 1, LIMITS).granted
        first.budgets.report(KEY, 3, 2_000_000_000.0, LIMITS)
        row = second.budgets.get(KEY, LIMITS)
        assert row is not None and row.hour_tokens < 3.1
        assert row.hour_reset == 2_000_000_000_000
        refused = second.budgets.reserve(KEY, 5, LIMITS)
        assert not refused.granted
        # 2 calls short at 5,000 an hour: about 1.4 s
        assert timedelta(seconds=1) < refused.wait <= timedelta(seconds=1.5)
        # A report never raises the hour above what the bucket holds.
        first.budgets.report(KEY, 4000, 2_000_000_000.0, LIMITS)
        row = second.budgets.get(KEY, LIMITS)
        assert row is not None and row.hour_tokens < 3.1


def test_an_exhausted_hour_blocks_until_its_reported_reset(store, backend):
    now = backend.sql(f"SELECT {store._db.now_sql}")[0][0] / 1000
    store.budgets.report(KEY, 0, now + 600, LIMITS)
    refused = store.budgets.reserve(KEY, 1, LIMITS)
    assert not refused.granted
    assert timedelta(seconds=590) < refused.wait <= timedelta(seconds=601)


def test_reserving_a_negative_number_of_calls_is_refused(store):
    with pytest.raises(ValueError):
        store.budgets.reserve(KEY, -1, LIMITS)
