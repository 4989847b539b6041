from __future__ import annotations

import httpx
import pytest
import respx

from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.errors import RateLimited, ServerError, TransportError, Unprocessable
from tests.digitalocean.client_support import API, START, MakeClient
from tests.support.clock import FakeClock

ACCOUNT = {"account": {"email": "sammy@example.com", "uuid": "u-1", "status": "active"}}
TOO_MANY = {"id": "too_many_requests", "message": "API rate limit exceeded."}


def test_a_server_error_then_success_is_retried_once_after_a_backoff(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    route = api.get(f"{API}/v2/account").mock(
        side_effect=[httpx.Response(500, json={"id": "server_error"}), httpx.Response(200)]
    )

    response = client.request("GET", "/v2/account")

    assert response.status_code == 200
    assert route.call_count == 2
    assert fake_time.sleeps == [0.5]
    assert (client.stats.calls, client.stats.retries) == (2, 1)


def test_a_server_error_that_persists_gives_up_after_the_allowed_attempts(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    route = api.get(f"{API}/v2/account").respond(
        503, json={"id": "service_unavailable", "message": "try later"}
    )

    with pytest.raises(ServerError) as caught:
        client.request("GET", "/v2/account")

    assert route.call_count == 4
    assert fake_time.sleeps == [0.5, 1.0, 2.0]
    assert "gave up after 4 attempts" in str(caught.value)


def test_backoff_is_jittered_by_the_injected_random_source(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.get(f"{API}/v2/account").respond(500)
    client = make_client(rng=lambda: 0.5)

    with pytest.raises(ServerError):
        client.request("GET", "/v2/account")

    assert fake_time.sleeps == [0.25, 0.5, 1.0]


def test_retries_stop_when_the_total_wait_budget_is_spent(
    api: respx.MockRouter, make_client: MakeClient, fake_time: FakeClock
) -> None:
    route = api.get(f"{API}/v2/account").respond(500)
    client = make_client(retry=RetryPolicy(attempts=10, base_delay=2.0, max_total_wait=5.0))

    with pytest.raises(ServerError):
        client.request("GET", "/v2/account")

    assert fake_time.sleeps == [2.0, 3.0]  # the second wait is cut to what was left
    assert route.call_count == 3


def test_a_post_is_not_retried_on_a_server_error(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    route = api.post(f"{API}/v2/spaces/keys").respond(500)

    with pytest.raises(ServerError):
        client.request("POST", "/v2/spaces/keys", json={"name": "k", "grants": []})

    assert route.call_count == 1
    assert fake_time.sleeps == []


def test_a_put_flagged_not_idempotent_is_not_retried_on_a_server_error(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.put(f"{API}/v2/apps/x").respond(502)

    with pytest.raises(ServerError):
        client.request("PUT", "/v2/apps/x", json={"spec": {}}, idempotent=False)

    assert route.call_count == 1


def test_a_post_is_retried_when_the_connection_was_never_made(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.post(f"{API}/v2/spaces/keys").mock(
        side_effect=[httpx.ConnectError("[Errno 111] Connection refused"), httpx.Response(201)]
    )

    assert client.request("POST", "/v2/spaces/keys", json={}).status_code == 201
    assert route.call_count == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("Server disconnected")],
    ids=["read timeout", "dropped connection"],
)
def test_a_post_is_not_retried_once_it_may_have_reached_the_server(
    api: respx.MockRouter, client: DigitalOceanClient, failure: httpx.RequestError
) -> None:
    route = api.post(f"{API}/v2/spaces/keys").mock(side_effect=failure)

    with pytest.raises(TransportError):
        client.request("POST", "/v2/spaces/keys", json={})

    assert route.call_count == 1


def test_a_post_is_retried_after_a_429(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    route = api.post(f"{API}/v2/spaces/keys").mock(
        side_effect=[
            httpx.Response(429, json=TOO_MANY, headers={"retry-after": "2"}),
            httpx.Response(201),
        ]
    )

    assert client.request("POST", "/v2/spaces/keys", json={}).status_code == 201
    assert route.call_count == 2
    assert fake_time.sleeps == [2.0]


def test_a_validation_error_is_never_retried(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.post(f"{API}/v2/spaces/keys").respond(
        422, json={"id": "unprocessable_entity", "message": "name is required"}
    )

    with pytest.raises(Unprocessable):
        client.request("POST", "/v2/spaces/keys", json={})

    assert route.call_count == 1


def test_a_429_with_retry_after_waits_that_long_then_succeeds(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    api.get(f"{API}/v2/account").mock(
        side_effect=[
            httpx.Response(429, json=TOO_MANY, headers={"retry-after": "7"}),
            httpx.Response(200, json=ACCOUNT),
        ]
    )

    assert client.account().uuid == "u-1"
    assert fake_time.sleeps == [7.0]
    assert (client.stats.rate_limited, client.stats.retries) == (1, 1)


def test_a_429_with_an_http_date_retry_after_waits_until_that_date(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    when = "Tue, 14 Nov 2023 22:13:40 GMT"  # START + 20s
    api.get(f"{API}/v2/account").mock(
        side_effect=[
            httpx.Response(429, json=TOO_MANY, headers={"retry-after": when}),
            httpx.Response(200, json=ACCOUNT),
        ]
    )

    client.account()

    assert fake_time.sleeps == [20.0]


def test_a_429_without_retry_after_waits_until_ratelimit_reset(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    reset = str(int(START) + 12)
    api.get(f"{API}/v2/account").mock(
        side_effect=[
            httpx.Response(429, json=TOO_MANY, headers={"ratelimit-reset": reset}),
            httpx.Response(200, json=ACCOUNT),
        ]
    )

    client.account()

    assert fake_time.sleeps == [12.0]


def test_a_429_without_any_hint_backs_off_like_a_server_error(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    api.get(f"{API}/v2/account").mock(
        side_effect=[httpx.Response(429, json=TOO_MANY), httpx.Response(200, json=ACCOUNT)]
    )

    client.account()

    assert fake_time.sleeps == [0.5]


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "45"}, {"ratelimit-reset": str(int(START) + 3600)}],
    ids=["retry-after", "ratelimit-reset"],
)
def test_a_429_asking_for_more_than_the_budget_gives_up_at_once_without_sleeping(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock, headers: dict[str, str]
) -> None:
    route = api.get(f"{API}/v2/account").respond(429, json=TOO_MANY, headers=headers)

    with pytest.raises(RateLimited) as caught:
        client.account()

    assert route.call_count == 1
    assert fake_time.sleeps == []
    expected = float(headers.get("retry-after", 3600))
    assert caught.value.retry_after == expected


def test_a_429_that_persists_gives_up_after_the_allowed_attempts_with_retry_after(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    route = api.get(f"{API}/v2/account").respond(429, json=TOO_MANY, headers={"retry-after": "1"})

    with pytest.raises(RateLimited) as caught:
        client.account()

    assert route.call_count == 4
    assert fake_time.sleeps == [1.0, 1.0, 1.0]
    assert caught.value.retry_after == 1.0
    assert client.stats.rate_limited == 4


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.ConnectTimeout("timed out"), "connecting timed out after 10s"),
        (httpx.ReadTimeout("timed out"), "timed out after 10s waiting for the answer"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (httpx.RemoteProtocolError("Server disconnected"), "connection dropped"),
        (httpx.ReadError("Connection reset by peer"), "connection dropped"),
    ],
)
def test_a_get_that_gets_no_answer_is_retried_then_reported_as_a_transport_error(
    api: respx.MockRouter,
    client: DigitalOceanClient,
    fake_time: FakeClock,
    failure: httpx.RequestError,
    message: str,
) -> None:
    route = api.get(f"{API}/v2/account").mock(side_effect=failure)

    with pytest.raises(TransportError) as caught:
        client.request("GET", "/v2/account")

    error = caught.value
    assert route.call_count == 4
    assert fake_time.sleeps == [0.5, 1.0, 2.0]
    assert str(error).startswith(message)
    assert "gave up after 4 attempts" in str(error)
    assert (error.method, error.path) == ("GET", "/v2/account")
    assert error.transient
    assert isinstance(error.__cause__, type(failure))
    assert client.stats.transport_errors == 4


def test_a_dropped_connection_then_success_is_retried(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.get(f"{API}/v2/account").mock(
        side_effect=[httpx.RemoteProtocolError("Server disconnected"), httpx.Response(200)]
    )

    assert client.request("GET", "/v2/account").status_code == 200
    assert route.call_count == 2


def test_the_timeout_is_passed_on_each_request_so_a_shared_client_keeps_its_own(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    route = api.get(f"{API}/v2/account").respond(200)
    with httpx.Client(timeout=99.0) as shared:
        make_client(http=shared, timeout=3.5).request("GET", "/v2/account")

    # The client's 3.5 s, not the shared client's 99 s (less what its total
    # deadline has already spent, which a loaded machine makes more than microseconds).
    assert 0 < route.calls.last.request.extensions["timeout"]["read"] <= 3.5


def test_a_timeout_message_names_the_configured_timeout(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    api.get(f"{API}/v2/account").mock(side_effect=httpx.ReadTimeout("timed out"))
    client = make_client(timeout=2.5, retry=RetryPolicy(attempts=1))

    with pytest.raises(TransportError, match=r"^timed out after 2.5s waiting for the answer \("):
        client.request("GET", "/v2/account")


def test_every_httpx_request_error_is_translated(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    client = make_client(retry=RetryPolicy(attempts=1))
    route = api.get(f"{API}/v2/account")
    failures = [cls("boom") for cls in _concrete_request_errors()]
    route.mock(side_effect=failures)

    for failure in failures:
        with pytest.raises(TransportError) as caught:
            client.request("GET", "/v2/account")
        assert caught.value.__cause__ is failure
        assert "boom" not in str(caught.value)


def _concrete_request_errors() -> list[type[httpx.RequestError]]:
    found: list[type[httpx.RequestError]] = []
    pending: list[type[httpx.RequestError]] = [httpx.RequestError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__subclasses__() and cls.__module__.startswith("httpx"):
            found.append(cls)
    return found
