from __future__ import annotations

import httpx
import respx

from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.ratelimit import Pacer
from rotator.digitalocean.retry import RetryPolicy

from .conftest import API, START, FakeTime, MakeClient


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
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeTime
) -> None:
    api.get(f"{API}/v2/account").mock(return_value=limited(4000, 600, limit=5000))

    for _ in range(5):
        client.request("GET", "/v2/account")

    assert fake_time.sleeps == []


def test_a_token_running_low_spreads_its_last_calls_until_the_reset(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeTime
) -> None:
    # Each answer reports one call fewer left, with the reset 40s after START.
    answers = [limited(remaining, 40) for remaining in (4, 3, 2, 1, 0)]
    api.get(f"{API}/v2/account").mock(side_effect=answers)
    client = make_client(pacer=Pacer(reserve=10))

    for _ in range(5):
        client.request("GET", "/v2/account")

    # The first call has no report to go on; the four left go at 0, 10, 20, 30s.
    assert fake_time.sleeps == [10.0, 10.0, 10.0]
    assert client.stats.waited_seconds == 30.0


def test_a_spent_token_waits_for_the_reset_before_calling_again(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeTime
) -> None:
    api.get(f"{API}/v2/account").mock(side_effect=[limited(0, 25), limited(249, 85)])

    client.request("GET", "/v2/account")
    client.request("GET", "/v2/account")

    assert fake_time.sleeps == [25.0]


def test_pacing_never_waits_longer_than_the_retry_budget(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeTime
) -> None:
    api.get(f"{API}/v2/account").mock(side_effect=[limited(0, 3000), limited(0, 2990)])
    client = make_client(retry=RetryPolicy(max_total_wait=20.0))

    client.request("GET", "/v2/account")
    client.request("GET", "/v2/account")

    assert fake_time.sleeps == [20.0]


def test_one_pacer_shared_by_two_clients_of_the_same_token_paces_them_together(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeTime
) -> None:
    api.get(f"{API}/v2/account").mock(side_effect=[limited(0, 30), limited(249, 90)])
    pacer = Pacer()
    first, second = make_client(pacer=pacer), make_client(pacer=pacer)

    first.request("GET", "/v2/account")
    second.request("GET", "/v2/account")

    assert fake_time.sleeps == [30.0]


def test_token_info_on_the_oauth_host_does_not_feed_the_api_pacer(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeTime
) -> None:
    api.get("https://cloud.digitalocean.com/v1/oauth/token/info").mock(return_value=limited(0, 500))
    api.get(f"{API}/v2/account").mock(return_value=limited(4000, 600, limit=5000))

    client.token_info()
    client.request("GET", "/v2/account")

    assert fake_time.sleeps == []
