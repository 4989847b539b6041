from __future__ import annotations

import httpx
import pytest
import respx

from rotator.digitalocean.budget import RateBudget, RateWait, not_before
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.errors import RateLimited
from tests.digitalocean.client_support import API, START, MakeClient
from tests.support.clock import FakeClock


def limited(remaining: int, reset_in: float, limit: int = 250) -> httpx.Response:
    return httpx.Response(
        200,
        json={},
        headers={
            "ratelimit-limit": str(limit),
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(int(START + reset_in)),
        },
    )


def test_a_token_with_plenty_of_budget_is_never_slowed(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    api.get(f"{API}/v2/account").mock(return_value=limited(4000, 600, limit=5000))

    for _ in range(5):
        client.request("GET", "/v2/account")

    assert fake_time.sleeps == []


def test_a_token_running_low_spends_its_last_calls_without_waiting_then_stops(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    # Each answer reports one call fewer left, with the reset 3,000 s after START.
    answers = [limited(remaining, 3000) for remaining in (4, 3, 2, 1, 0)]
    route = api.get(f"{API}/v2/account").mock(side_effect=answers)
    client = make_client(budget=RateBudget())

    for _ in range(5):
        client.request("GET", "/v2/account")
    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/v2/account")

    # No spreading: the calls that fit go at once; the one that does not is not sent.
    assert fake_time.sleeps == []
    assert client.stats.waited_seconds == 0.0
    assert route.call_count == 5
    assert "resets at 23:04 UTC" in str(caught.value)
    assert not_before(caught.value, START) == START + 3000


def test_a_spent_token_waits_for_the_reset_before_calling_again(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    api.get(f"{API}/v2/account").mock(side_effect=[limited(0, 25), limited(249, 85)])

    client.request("GET", "/v2/account")
    client.request("GET", "/v2/account")

    assert fake_time.sleeps == [25.0]


def test_a_request_whose_wait_exceeds_the_retry_budget_is_never_sent(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    route = api.get(f"{API}/v2/account").mock(side_effect=[limited(0, 3000), limited(0, 2990)])
    client = make_client(retry=RetryPolicy(max_total_wait=20.0))

    client.request("GET", "/v2/account")
    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/v2/account")

    # It used to sleep 20 s and send anyway; now it stops at once, naming the reset.
    assert fake_time.sleeps == []
    assert route.call_count == 1
    assert caught.value.retry_after == 3000.0


def test_a_command_wide_wait_is_shared_by_all_its_requests(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    # Every answer says the token is spent and a slot frees 12 s later.
    api.get(f"{API}/v2/account").mock(
        side_effect=lambda request: limited(0, fake_time.seconds() - START + 12)
    )
    client = make_client(rate_wait=RateWait(30.0))

    client.request("GET", "/v2/account")
    client.request("GET", "/v2/account")
    client.request("GET", "/v2/account")
    with pytest.raises(RateLimited):
        client.request("GET", "/v2/account")

    assert fake_time.sleeps == [12.0, 12.0]
    assert sum(fake_time.sleeps) <= 30.0


def test_a_client_that_may_never_wait_refuses_at_once_with_the_time_to_come_back(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    route = api.get(f"{API}/v2/account").mock(return_value=limited(0, 45))
    client = make_client(rate_wait=RateWait.never())

    client.request("GET", "/v2/account")
    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/v2/account")

    assert fake_time.sleeps == []
    assert route.call_count == 1
    assert not_before(caught.value, START) == START + 45


def test_requests_of_admitted_work_use_the_calls_reserved_for_it(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    budget = RateBudget()
    api.get(f"{API}/v2/account").mock(
        side_effect=[limited(3, 3000), limited(2, 3000), limited(1, 3000), limited(0, 3000)]
    )
    bystander = make_client(budget=budget, rate_wait=RateWait.never())
    worker = make_client(budget=budget, rate_wait=RateWait.never())
    bystander.request("GET", "/v2/account")  # 3 left
    admission = budget.admit(worker.fingerprint, 3, START)
    assert admission.reservation is not None
    worker.reservation = admission.reservation

    with pytest.raises(RateLimited):
        bystander.request("GET", "/v2/account")  # the last 3 are held for the worker
    worker.request("GET", "/v2/account")
    worker.request("GET", "/v2/account")

    assert admission.reservation.left == 1
    admission.reservation.release()
    bystander.request("GET", "/v2/account")  # the unused call is back
    assert admission.reservation.left == 0
    assert fake_time.sleeps == []


def test_one_pacer_shared_by_two_clients_of_the_same_token_paces_them_together(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.get(f"{API}/v2/account").mock(side_effect=[limited(0, 30), limited(249, 90)])
    budget = RateBudget()
    first, second = make_client(budget=budget), make_client(pacer=budget)

    first.request("GET", "/v2/account")
    second.request("GET", "/v2/account")

    assert fake_time.sleeps == [30.0]


def test_token_info_on_the_oauth_host_does_not_feed_the_api_pacer(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    api.get("https://cloud.digitalocean.com/v1/oauth/token/info").mock(return_value=limited(0, 500))
    api.get(f"{API}/v2/account").mock(return_value=limited(4000, 600, limit=5000))

    client.token_info()
    client.request("GET", "/v2/account")

    assert fake_time.sleeps == []


def test_a_429_asking_longer_than_the_wait_left_is_raised_at_once_naming_the_reset(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    route = api.get(f"{API}/v2/account").respond(
        429,
        json={"id": "too_many_requests", "message": "API Rate limit exceeded."},
        headers={"retry-after": "20"},
    )
    client = make_client(rate_wait=RateWait(10.0))

    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/v2/account")

    assert route.call_count == 1
    assert fake_time.sleeps == []
    assert str(caught.value).endswith(
        f"; budget for token {client.fingerprint} resets at 22:14 UTC"
    )
    assert caught.value.retry_after == 20.0
    assert not_before(caught.value, START) == START + 20


def test_a_429_within_the_wait_is_waited_for_once_through_the_budget(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.get(f"{API}/v2/account").mock(
        side_effect=[
            httpx.Response(429, json={}, headers={"retry-after": "8"}),
            limited(4000, 600, limit=5000),
        ]
    )
    budget = RateBudget()
    client = make_client(budget=budget, rate_wait=RateWait(30.0))
    other = make_client(budget=budget, rate_wait=RateWait(30.0))

    client.request("GET", "/v2/account")

    # One sleep for the retry-after, not two, counted against this command's wait only.
    assert fake_time.sleeps == [8.0]
    assert client.rate_wait is not None and client.rate_wait.left == 22.0
    assert other.rate_wait is not None and other.rate_wait.left == 30.0


def test_a_wait_cut_short_gives_the_requests_place_back(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.get(f"{API}/v2/account").mock(return_value=limited(0, 20))
    budget = RateBudget(requests_per_hour=200)

    def stop(seconds: float) -> None:
        raise KeyboardInterrupt  # what a stop request does to a sleeping worker

    client = make_client(budget=budget)
    client.request("GET", "/v2/account")
    stopping = make_client(budget=budget, sleep=stop)
    with pytest.raises(KeyboardInterrupt):
        stopping.request("GET", "/v2/account")

    # Nothing is left counted as in flight: after the reset one call is free again.
    assert budget.hour_left(client.fingerprint, START + 20) == 1
