"""The rate budget shared by replicas, on both backends: reserve, refill, give back, correct."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from rotator.store import Store
from rotator.store.budgets import Limits

KEY = "fp:prod"
LIMITS = Limits(per_minute=60, per_hour=5000)  # burst 10, refills 50 a minute


@contextmanager
def _two(backend, keyring) -> Iterator[tuple[Store, Store]]:
    """Two connections to one store, as two replicas (or two processes) have."""
    backend.create(keyring).close()
    with backend.open(keyring, writer=True) as first, backend.open(keyring, writer=True) as second:
        yield first, second


def _age(backend, seconds: float) -> None:
    """Let *seconds* pass for the bucket, by the database clock's measure (the row gets older)."""
    backend.sql(
        "UPDATE rate_budgets SET updated_at = updated_at - ?, blocked_until = blocked_until - ?",
        (int(seconds * 1000), int(seconds * 1000)),
    )


def test_the_burst_and_refill_never_let_more_than_the_limit_through_in_a_minute():
    for per_minute in (1, 2, 5, 20, 30, 60, 250, 1000):
        limits = Limits(per_minute, 5000)
        assert 1 <= limits.burst <= per_minute
        assert limits.burst + limits.rate * 60_000 <= max(per_minute, limits.burst + 1)


def test_a_new_token_starts_full_and_grants_up_to_its_burst(store):
    assert store.budgets.get(KEY, LIMITS) is None
    assert store.budgets.reserve(KEY, 6, LIMITS).granted
    assert store.budgets.reserve(KEY, 4, LIMITS).granted
    refused = store.budgets.reserve(KEY, 3, LIMITS)
    assert not refused.granted
    # 3 calls at 50 a minute: about 3.6 s away (a little less has refilled by now).
    assert timedelta(seconds=2) < refused.wait <= timedelta(seconds=3.7)
    row = store.budgets.get(KEY, LIMITS)
    assert row is not None and row.tokens < 1
    assert row.hour_tokens < 5000 - 9


def test_two_store_connections_on_one_token_never_grant_more_than_the_limit(backend, keyring):
    with _two(backend, keyring) as (first, second):
        granted = 0
        for number in range(40):
            store = first if number % 2 else second
            if store.budgets.reserve(KEY, 1, LIMITS).granted:
                granted += 1
        # The burst (10) and what refilled in the few milliseconds this took.
        assert 10 <= granted <= 11


def test_the_bucket_refills_by_the_database_clock(store, backend):
    assert store.budgets.reserve(KEY, 10, LIMITS).granted
    assert not store.budgets.reserve(KEY, 10, LIMITS).granted
    _age(backend, 6)  # 6 s at 50 a minute: 5 calls
    assert store.budgets.reserve(KEY, 5, LIMITS).granted
    assert not store.budgets.reserve(KEY, 5, LIMITS).granted
    _age(backend, 3600)  # never more than the burst, however long it waited
    assert store.budgets.reserve(KEY, 10, LIMITS).granted
    assert not store.budgets.reserve(KEY, 1, LIMITS).granted


def test_an_item_larger_than_the_burst_waits_for_a_full_bucket_and_leaves_it_in_debt(
    store, backend
):
    assert store.budgets.reserve(KEY, 10, LIMITS).granted
    refused = store.budgets.reserve(KEY, 37, LIMITS)  # an audit
    assert not refused.granted
    assert timedelta(seconds=10) < refused.wait <= timedelta(seconds=12)  # a full burst
    _age(backend, 12)
    assert store.budgets.reserve(KEY, 37, LIMITS).granted
    row = store.budgets.get(KEY, LIMITS)
    assert row is not None and row.tokens < -26
    # Smaller items wait until the refill has paid the debt (27 calls at 50 a minute).
    refused = store.budgets.reserve(KEY, 1, LIMITS)
    assert not refused.granted
    assert timedelta(seconds=32) < refused.wait <= timedelta(seconds=34)


def test_release_gives_back_unused_calls_up_to_the_burst(store):
    assert store.budgets.reserve(KEY, 10, LIMITS).granted
    assert not store.budgets.reserve(KEY, 4, LIMITS).granted
    store.budgets.release(KEY, 4, LIMITS)
    assert store.budgets.reserve(KEY, 4, LIMITS).granted
    store.budgets.release(KEY, 100, LIMITS)  # never more than the burst
    row = store.budgets.get(KEY, LIMITS)
    assert row is not None and row.tokens <= LIMITS.burst
    store.budgets.release(KEY, 0, LIMITS)  # nothing to give: nothing happens
    store.budgets.release("fp:unknown", 3, LIMITS)
    assert store.budgets.get("fp:unknown", LIMITS) is None


def test_a_429_blocks_every_connection_until_its_retry_after(backend, keyring):
    with _two(backend, keyring) as (first, second):
        assert first.budgets.reserve(KEY, 1, LIMITS).granted
        first.budgets.block(KEY, 30, LIMITS)
        refused = second.budgets.reserve(KEY, 1, LIMITS)
        assert not refused.granted
        assert timedelta(seconds=28) < refused.wait <= timedelta(seconds=30)
        first.budgets.block(KEY, 5, LIMITS)  # a shorter block does not shorten it
        assert second.budgets.reserve(KEY, 1, LIMITS).wait > timedelta(seconds=25)
        _age(backend, 31)
        assert second.budgets.reserve(KEY, 1, LIMITS).granted


def test_a_block_on_a_new_token_makes_its_row(store):
    store.budgets.block("fp:new", 10, LIMITS)
    row = store.budgets.get("fp:new", LIMITS)
    assert row is not None and row.blocked_for > timedelta(seconds=8)
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
