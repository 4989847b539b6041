"""The per-token rate budget on its own: minute slots, the reported hour, admission."""

from __future__ import annotations

import threading

import pytest

from rotator.digitalocean.budget import (
    Admission,
    Candidate,
    RateBudget,
    RateWait,
    Refusal,
    Ticket,
    admit_fairly,
    clock_time,
    not_before,
    refused_error,
)
from rotator.digitalocean.ratelimit import Pacer
from rotator.errors import RateLimited

NOW = 1_700_000_000.0  # 22:13:20 UTC
KEY = "0123456789ab"


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "ratelimit-limit": str(limit),
        "ratelimit-remaining": str(remaining),
        "ratelimit-reset": str(int(reset)),
    }


def report(budget: RateBudget, key: str, answer: dict[str, str], now: float = NOW) -> None:
    """Send one request through the budget and feed it *answer*'s headers."""
    ticket = budget.acquire(key, now)
    assert isinstance(ticket, Ticket)
    budget.observe(ticket, answer, now, status=200)


def delay(budget: RateBudget, key: str = KEY, now: float = NOW, **options: object) -> float:
    ticket = budget.acquire(key, now, **options)  # type: ignore[arg-type]
    assert isinstance(ticket, Ticket), ticket
    return ticket.delay


# -- the hour ---------------------------------------------------------------------------


def test_a_token_never_seen_is_not_held_back() -> None:
    assert delay(RateBudget()) == 0.0


def test_a_token_with_plenty_left_is_not_held_back() -> None:
    budget = RateBudget()
    report(budget, KEY, headers(5000, 4000, NOW + 600))

    assert [delay(budget) for _ in range(10)] == [0.0] * 10


def test_a_token_running_low_spends_its_last_calls_at_once_then_names_the_reset() -> None:
    budget = RateBudget()
    report(budget, KEY, headers(250, 4, NOW + 40))

    delays = [delay(budget) for _ in range(4)]
    refused = budget.acquire(KEY, NOW, max_wait=30.0)

    assert delays == [0.0, 0.0, 0.0, 0.0]
    assert refused == Refusal(KEY, NOW + 40)


def test_the_reserve_is_never_handed_out() -> None:
    budget = RateBudget(reserve=500)
    report(budget, KEY, headers(5000, 501, NOW + 60))

    assert delay(budget) == 0.0  # 501 > 500: one call to spare
    assert isinstance(budget.acquire(KEY, NOW, max_wait=0.0), Refusal)


def test_a_spent_token_waits_for_the_reset() -> None:
    budget = RateBudget()
    report(budget, KEY, headers(5000, 0, NOW + 90))

    assert delay(budget) == 90.0


def test_after_the_reset_a_spent_token_goes_at_the_windows_average_rate() -> None:
    budget = RateBudget()
    report(budget, KEY, headers(3600, 0, NOW + 90))

    assert [delay(budget) for _ in range(3)] == [90.0, 91.0, 92.0]


def test_a_report_whose_reset_has_passed_is_ignored() -> None:
    budget = RateBudget()
    report(budget, KEY, headers(5000, 0, NOW - 1))

    assert delay(budget) == 0.0


def test_a_fresh_answer_replaces_the_old_report() -> None:
    budget = RateBudget()
    report(budget, KEY, headers(5000, 0, NOW + 90))
    report(budget, KEY, headers(5000, 4000, NOW + 90))

    assert delay(budget) == 0.0


def test_an_older_answer_arriving_late_does_not_raise_what_is_left() -> None:
    budget = RateBudget()
    first, second = budget.acquire(KEY, NOW), budget.acquire(KEY, NOW)
    assert isinstance(first, Ticket) and isinstance(second, Ticket)

    budget.observe(second, headers(5000, 10, NOW + 600), NOW)
    budget.observe(first, headers(5000, 11, NOW + 600), NOW)  # counted before the other

    assert budget.hour_left(KEY, NOW) == 10


def test_a_window_that_moved_on_may_report_more_left() -> None:
    budget = RateBudget()
    report(budget, KEY, headers(5000, 10, NOW + 600))
    report(budget, KEY, headers(5000, 11, NOW + 601))  # the oldest request expired

    assert budget.hour_left(KEY, NOW) == 11


def test_the_reported_limit_overrides_the_configured_one() -> None:
    budget = RateBudget(requests_per_hour=200)
    report(budget, KEY, headers(10000, 0, NOW + 10))

    # Past the reset, slots come back at the reported limit's rate (10,000/h).
    assert [delay(budget) for _ in range(3)] == pytest.approx([10.0, 10.36, 10.72])


def test_tokens_are_paced_separately() -> None:
    budget = RateBudget()
    report(budget, KEY, headers(5000, 0, NOW + 90))

    assert delay(budget, "another-token") == 0.0
    assert delay(budget) == 90.0


@pytest.mark.parametrize(
    "partial",
    [
        {"ratelimit-limit": "5000", "ratelimit-remaining": "0"},
        {"ratelimit-limit": "5000", "ratelimit-remaining": "x", "ratelimit-reset": "1"},
        {},
    ],
)
def test_answers_without_all_three_readable_headers_are_ignored(partial: dict[str, str]) -> None:
    budget = RateBudget()
    report(budget, KEY, partial)

    assert delay(budget) == 0.0


def test_a_request_without_an_answer_is_counted_against_the_hour() -> None:
    budget = RateBudget()
    report(budget, KEY, headers(5000, 1, NOW + 600))
    ticket = budget.acquire(KEY, NOW)
    assert isinstance(ticket, Ticket)

    budget.observe(ticket, None, NOW)  # e.g. a read timeout: it may have counted

    assert budget.hour_left(KEY, NOW) == 0


# -- the minute ---------------------------------------------------------------------------


def test_the_minute_lets_a_burst_through_then_frees_each_slot_a_minute_after_its_answer() -> None:
    budget = RateBudget(requests_per_minute=3)
    tickets = [budget.acquire(KEY, NOW) for _ in range(3)]
    for number, ticket in enumerate(tickets):
        assert isinstance(ticket, Ticket)
        budget.observe(ticket, {}, NOW + number)

    assert [t.delay for t in tickets if isinstance(t, Ticket)] == [0.0, 0.0, 0.0]
    assert delay(budget) == 60.0
    assert delay(budget) == 61.0


def test_a_slot_still_in_flight_is_held_for_the_allowance_as_well() -> None:
    budget = RateBudget(requests_per_minute=1, in_flight_allowance=10.0)
    budget.acquire(KEY, NOW)

    assert delay(budget) == 70.0


def test_threads_sharing_a_token_never_put_more_than_the_limit_in_any_minute() -> None:
    budget = RateBudget(requests_per_minute=5, in_flight_allowance=0.0)
    starts: list[float] = []
    lock = threading.Lock()

    def claim() -> None:
        ticket = budget.acquire(KEY, NOW)
        assert isinstance(ticket, Ticket)
        with lock:
            starts.append(ticket.start)

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    starts.sort()
    assert starts == [NOW + 60.0 * (n // 5) for n in range(20)]
    for index, start in enumerate(starts):
        assert sum(1 for other in starts[index:] if other < start + 60.0) <= 5


def test_a_429_blocks_the_token_until_its_retry_after_and_frees_its_slot() -> None:
    budget = RateBudget(requests_per_minute=1)
    ticket = budget.acquire(KEY, NOW)
    assert isinstance(ticket, Ticket)

    budget.observe(ticket, {"retry-after": "7"}, NOW, status=429)

    assert delay(budget) == 7.0
    assert delay(budget, "another-token") == 0.0


def test_a_refusal_claims_nothing() -> None:
    budget = RateBudget(requests_per_minute=1, in_flight_allowance=0.0)
    delay(budget)

    first = budget.acquire(KEY, NOW, max_wait=5.0)
    second = budget.acquire(KEY, NOW, max_wait=5.0)

    assert first == second == Refusal(KEY, NOW + 60.0)


# -- admission ------------------------------------------------------------------------------


def test_admission_refuses_a_ten_call_job_with_four_left_and_names_when_it_fits() -> None:
    budget = RateBudget(requests_per_hour=200)
    report(budget, KEY, headers(200, 4, NOW + 3000))

    admission = budget.admit(KEY, 10, NOW)

    # One slot frees at the reset, the other five at the hour's average rate.
    assert admission == Admission(KEY, 10, False, NOW + 3000 + 5 * 18.0, 3090.0, None)
    assert admission.message() == f"rate limit: budget for token {KEY} resets at 23:05 UTC"


def test_admission_grants_and_reserves_the_calls_so_others_cannot_take_them() -> None:
    budget = RateBudget(requests_per_hour=200)
    report(budget, KEY, headers(200, 12, NOW + 3000))

    first = budget.admit(KEY, 10, NOW)
    second = budget.admit(KEY, 10, NOW)

    assert first.granted and first.reservation is not None
    assert first.reservation.left == 10
    assert not second.granted
    assert budget.hour_left(KEY, NOW) == 2
    assert isinstance(budget.acquire(KEY, NOW, max_wait=0.0), Ticket)
    assert isinstance(budget.acquire(KEY, NOW, max_wait=0.0), Ticket)
    assert isinstance(budget.acquire(KEY, NOW, max_wait=0.0), Refusal)


def test_requests_made_with_a_reservation_draw_on_it() -> None:
    budget = RateBudget(requests_per_hour=200)
    report(budget, KEY, headers(200, 3, NOW + 3000))
    admission = budget.admit(KEY, 3, NOW)
    assert admission.reservation is not None

    tickets = [
        budget.acquire(KEY, NOW, max_wait=0.0, reservation=admission.reservation) for _ in range(3)
    ]

    assert all(isinstance(ticket, Ticket) for ticket in tickets)
    assert admission.reservation.left == 0
    assert isinstance(
        budget.acquire(KEY, NOW, max_wait=0.0, reservation=admission.reservation), Refusal
    )


def test_a_released_reservation_gives_its_calls_back() -> None:
    budget = RateBudget(requests_per_hour=200)
    report(budget, KEY, headers(200, 10, NOW + 3000))
    admission = budget.admit(KEY, 10, NOW)
    assert admission.reservation is not None

    with admission.reservation:
        assert budget.hour_left(KEY, NOW) == 0

    assert budget.hour_left(KEY, NOW) == 10
    admission.reservation.release()  # twice is harmless
    assert budget.hour_left(KEY, NOW) == 10


def test_a_reservation_can_shrink_and_grow_only_while_it_fits() -> None:
    budget = RateBudget(requests_per_hour=200)
    report(budget, KEY, headers(200, 10, NOW + 3000))
    admission = budget.admit(KEY, 8, NOW)
    reservation = admission.reservation
    assert reservation is not None

    assert reservation.adjust(3, NOW)
    assert budget.hour_left(KEY, NOW) == 7
    assert reservation.adjust(10, NOW)
    assert not reservation.adjust(11, NOW)
    assert reservation.left == 10


def test_admission_may_grant_with_a_short_start_delay() -> None:
    budget = RateBudget(requests_per_minute=1, in_flight_allowance=0.0)
    delay(budget)

    refused = budget.admit(KEY, 1, NOW)
    granted = budget.admit(KEY, 1, NOW, max_delay=60.0)

    assert not refused.granted and refused.not_before == NOW + 60.0
    assert granted.granted and granted.delay == 60.0


def test_two_tokens_have_independent_budgets() -> None:
    budget = RateBudget(requests_per_hour=200)
    report(budget, "token-a", headers(200, 0, NOW + 3000))
    report(budget, "token-b", headers(200, 150, NOW + 3000))

    assert not budget.admit("token-a", 10, NOW).granted
    assert budget.admit("token-b", 10, NOW).granted


# -- fair sharing ------------------------------------------------------------------------------


def test_fair_admission_goes_oldest_due_first_and_small_items_do_not_overtake_a_big_one() -> None:
    budget = RateBudget(requests_per_hour=200)
    report(budget, "shared", headers(200, 12, NOW + 3000))
    candidates = [
        Candidate("late-small", "shared", 2, due=NOW - 10),
        Candidate("oldest", "shared", 10, due=NOW - 300),
        Candidate("big", "shared", 10, due=NOW - 200),
        Candidate("other-token", "other", 10, due=NOW - 100),
    ]

    decided = admit_fairly(budget, candidates, NOW)

    assert [item for item, _ in decided.admitted] == ["oldest", "other-token"]
    deferred = dict(decided.deferred)
    assert deferred["big"] == deferred["late-small"] > NOW + 3000


def test_fair_admission_admits_no_more_than_the_free_workers() -> None:
    budget = RateBudget()
    candidates = [Candidate(n, f"token-{n}", 5, due=NOW - n) for n in range(5)]

    decided = admit_fairly(budget, candidates, NOW, limit=2)

    assert [item for item, _ in decided.admitted] == [4, 3]
    assert [item for item, _ in decided.deferred] == [2, 1, 0]


# -- waits and errors ---------------------------------------------------------------------------


def test_a_rate_wait_is_a_total_across_requests_with_an_optional_cap_per_request() -> None:
    wait = RateWait(30.0, per_request=20.0)

    assert wait.left == 20.0
    wait.spend(25.0)
    assert wait.left == 5.0
    wait.spend(10.0)
    assert wait.left == 0.0
    assert RateWait.never().left == 0.0


def test_a_refused_request_becomes_rate_limited_naming_the_reset() -> None:
    error = refused_error(Refusal(KEY, NOW + 3000), NOW, method="GET", path="/v2/account")

    assert isinstance(error, RateLimited)
    assert str(error) == (
        f"rate limit: budget for token {KEY} resets at 23:04 UTC (GET /v2/account not sent)"
    )
    assert error.retry_after == 3000.0
    assert not_before(error, NOW + 5) == NOW + 3000


def test_the_time_of_day_is_rounded_up_to_the_minute() -> None:
    assert clock_time(NOW) == "22:14 UTC"
    assert clock_time(NOW + 40) == "22:14 UTC"
    assert clock_time(NOW + 41) == "22:15 UTC"


@pytest.mark.parametrize(
    "options",
    [{"reserve": -1}, {"requests_per_minute": 0}, {"requests_per_hour": 0}],
)
def test_nonsense_limits_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        RateBudget(**options)  # type: ignore[arg-type]


def test_the_old_name_still_builds_a_budget() -> None:
    assert isinstance(Pacer(), RateBudget)
