"""Two processes' rate budgets sharing one token's limit through the store, on both backends.

Each :class:`RateBudget` stands for one replica, with its own store
connection (a :class:`StoreBudget`), as ``rotator run`` processes on one
PostgreSQL have: together they never admit more than the token's limit,
a 429 one of them hears stops the other, unused calls come back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from rotator.digitalocean.budget import RateBudget, Ticket
from rotator.digitalocean.shared import UNREACHABLE_RETRY
from rotator.errors import StoreError
from rotator.services.shared_budget import StoreBudget
from rotator.store import Store
from rotator.store.budgets import Limits

KEY = "fp:prod"
PER_MINUTE = 60
LIMITS = Limits(PER_MINUTE, 5000)


@pytest.fixture
def replicas(backend, keyring) -> Iterator[tuple[RateBudget, RateBudget]]:
    backend.create(keyring).close()
    budgets = []
    for _ in range(2):
        budget = RateBudget(PER_MINUTE, 5000)
        budget.shared = StoreBudget(lambda: backend.open(keyring, writer=True), LIMITS)
        budgets.append(budget)
    yield budgets[0], budgets[1]
    for budget in budgets:
        budget.close()


def _ticket(budget: RateBudget, reservation=None) -> Ticket:
    ticket = budget.acquire(KEY, time.time(), reservation=reservation)
    assert isinstance(ticket, Ticket)
    return ticket


def test_two_replicas_together_never_admit_more_than_the_limit(replicas):
    first, second = replicas
    granted = 0
    for number in range(10):
        budget = (first, second)[number % 2]
        admission = budget.admit(KEY, 10, time.time())
        if admission.granted:
            granted += 10
        else:
            assert admission.not_before > time.time() + 55  # when the minute's calls leave
            assert admission.reservation is None
    assert granted == PER_MINUTE  # each alone would have admitted all 100


def test_a_refused_admission_holds_nothing_in_this_replica(replicas):
    first, second = replicas
    assert first.admit(KEY, PER_MINUTE, time.time()).granted
    before = second.hour_left(KEY, time.time())
    refused = second.admit(KEY, 10, time.time())
    assert not refused.granted
    assert second.hour_left(KEY, time.time()) == before


def test_released_unused_calls_go_back_to_every_replica(replicas):
    first, second = replicas
    admission = first.admit(KEY, PER_MINUTE, time.time())
    assert admission.granted and admission.reservation is not None
    for _ in range(3):
        first.observe(_ticket(first, admission.reservation), {}, time.time(), status=200)
    assert not second.admit(KEY, 57, time.time()).granted
    admission.reservation.release()
    assert second.admit(KEY, 57, time.time()).granted
    assert not second.admit(KEY, 1, time.time()).granted  # the 3 sent stay spent


def test_a_429_heard_by_one_replica_defers_the_other(replicas):
    first, second = replicas
    admission = first.admit(KEY, 2, time.time())
    assert admission.reservation is not None
    ticket = _ticket(first, admission.reservation)
    first.observe(ticket, {"retry-after": "40"}, time.time(), status=429)
    refused = second.admit(KEY, 1, time.time())
    assert not refused.granted
    assert refused.not_before > time.time() + 35


def test_the_hour_digitalocean_reported_to_one_replica_reaches_the_other(replicas):
    first, second = replicas
    admission = first.admit(KEY, 2, time.time())
    assert admission.reservation is not None
    headers = {
        "ratelimit-limit": "5000",
        "ratelimit-remaining": "0",
        "ratelimit-reset": str(int(time.time()) + 900),
    }
    first.observe(_ticket(first, admission.reservation), headers, time.time(), status=200)
    admission.reservation.release()  # the report travels with the release
    refused = second.admit(KEY, 1, time.time())
    assert not refused.granted
    assert refused.not_before > time.time() + 800


def test_an_unreachable_store_defers_the_work_and_holds_nothing():
    def unreachable() -> Store:
        raise StoreError("cannot connect to the database")

    budget = RateBudget(PER_MINUTE, 5000)
    budget.shared = StoreBudget(unreachable, LIMITS)
    before = budget.hour_left(KEY, time.time())
    now = time.time()
    refused = budget.admit(KEY, 10, now)
    assert not refused.granted and refused.reservation is None
    assert refused.not_before >= now + UNREACHABLE_RETRY
    assert budget.hour_left(KEY, time.time()) == before
