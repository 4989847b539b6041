from __future__ import annotations

import threading

import pytest

from rotator.digitalocean.ratelimit import Pacer

NOW = 1_700_000_000.0
KEY = "0123456789ab"


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "ratelimit-limit": str(limit),
        "ratelimit-remaining": str(remaining),
        "ratelimit-reset": str(int(reset)),
    }


def test_a_token_never_seen_is_not_held_back() -> None:
    assert Pacer().delay(KEY, NOW) == 0.0


def test_a_token_with_plenty_left_is_not_held_back() -> None:
    pacer = Pacer()
    pacer.observe(KEY, headers(5000, 4000, NOW + 600), NOW)

    assert [pacer.delay(KEY, NOW) for _ in range(10)] == [0.0] * 10


def test_below_the_reserve_the_remaining_calls_are_spread_until_the_reset() -> None:
    pacer = Pacer(reserve=10)
    pacer.observe(KEY, headers(250, 4, NOW + 40), NOW)

    delays = [pacer.delay(KEY, NOW) for _ in range(4)]

    assert delays == [0.0, 10.0, 20.0, 30.0]


def test_the_default_reserve_is_a_tenth_of_the_reported_limit() -> None:
    pacer = Pacer()
    pacer.observe(KEY, headers(5000, 501, NOW + 60), NOW)

    assert pacer.delay(KEY, NOW) == 0.0  # 501 > 500: still free
    assert pacer.delay(KEY, NOW) == 0.0  # claims the 500th: now at the reserve
    assert pacer.delay(KEY, NOW) > 0.0


def test_a_spent_token_waits_for_the_reset() -> None:
    pacer = Pacer()
    pacer.observe(KEY, headers(5000, 0, NOW + 90), NOW)

    assert pacer.delay(KEY, NOW) == 90.0


def test_after_the_reset_a_spent_token_goes_at_the_windows_average_rate() -> None:
    pacer = Pacer()
    pacer.observe(KEY, headers(3600, 0, NOW + 90), NOW)

    assert [pacer.delay(KEY, NOW) for _ in range(3)] == [90.0, 91.0, 92.0]


def test_a_report_whose_reset_has_passed_is_ignored() -> None:
    pacer = Pacer()
    pacer.observe(KEY, headers(5000, 0, NOW - 1), NOW)

    assert pacer.delay(KEY, NOW) == 0.0


def test_a_fresh_answer_replaces_the_old_report() -> None:
    pacer = Pacer(reserve=10)
    pacer.observe(KEY, headers(5000, 0, NOW + 90), NOW)
    pacer.observe(KEY, headers(5000, 4000, NOW + 90), NOW)

    assert pacer.delay(KEY, NOW) == 0.0


def test_tokens_are_paced_separately() -> None:
    pacer = Pacer()
    pacer.observe(KEY, headers(5000, 0, NOW + 90), NOW)

    assert pacer.delay("another-token", NOW) == 0.0


@pytest.mark.parametrize(
    "partial",
    [
        {"ratelimit-limit": "5000", "ratelimit-remaining": "0"},
        {"ratelimit-limit": "5000", "ratelimit-remaining": "x", "ratelimit-reset": "1"},
        {},
    ],
)
def test_answers_without_all_three_readable_headers_are_ignored(partial: dict[str, str]) -> None:
    pacer = Pacer()
    pacer.observe(KEY, partial, NOW)

    assert pacer.delay(KEY, NOW) == 0.0


def test_threads_sharing_a_token_queue_up_instead_of_firing_together() -> None:
    pacer = Pacer(reserve=100)
    pacer.observe(KEY, headers(5000, 50, NOW + 50), NOW)
    delays: list[float] = []
    lock = threading.Lock()

    def claim() -> None:
        delay = pacer.delay(KEY, NOW)
        with lock:
            delays.append(delay)

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(delays)) == 20  # every thread got its own slot
    assert min(delays) == 0.0


def test_a_reserve_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        Pacer(reserve=-1)
