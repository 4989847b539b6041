"""The whole request, retries and waits included, ends by the retry policy's deadline."""

from __future__ import annotations

import httpx
import pytest
import respx

from rotator.digitalocean.retry import RetryPolicy
from rotator.errors import DigitalOceanError, RateLimited, TransportError
from rotator.httpguard import BodyTooLarge, DeadlineExceeded
from tests.digitalocean.client_support import API, MakeClient
from tests.support.clock import FakeClock


@pytest.fixture
def deadline_client(make_client: MakeClient, fake_time: FakeClock):
    """A client whose monotonic clock moves with the fake sleeps."""

    def make(**overrides: object):
        return make_client(monotonic=fake_time.seconds, **overrides)

    return make


def test_retries_stop_when_the_overall_deadline_has_passed(
    api: respx.MockRouter, deadline_client, fake_time: FakeClock
) -> None:
    route = api.get(f"{API}/v2/account").mock(side_effect=httpx.ReadTimeout("slow"))
    policy = RetryPolicy(attempts=10, base_delay=4.0, max_delay=4.0, deadline=10.0)

    with pytest.raises(TransportError) as caught:
        deadline_client(retry=policy).request("GET", "/v2/account")

    # 4 s waits: attempts at 0, 4 and 8 s; a fourth would start after the deadline.
    assert route.call_count == 3
    assert fake_time.sleeps == [4.0, 4.0]
    assert "gave up after 3 attempts within the 10s deadline" in str(caught.value)


def test_a_wait_never_runs_past_the_deadline(
    api: respx.MockRouter, deadline_client, fake_time: FakeClock
) -> None:
    api.get(f"{API}/v2/account").respond(503)
    policy = RetryPolicy(attempts=3, base_delay=30.0, max_delay=30.0, deadline=5.0)

    with pytest.raises(DigitalOceanError):
        deadline_client(retry=policy).request("GET", "/v2/account")

    assert fake_time.sleeps == []


def test_a_429_asking_for_more_than_the_time_left_is_returned_at_once(
    api: respx.MockRouter, deadline_client, fake_time: FakeClock
) -> None:
    route = api.get(f"{API}/v2/account").respond(429, headers={"retry-after": "8"})
    policy = RetryPolicy(max_delay=30.0, max_total_wait=60.0, deadline=5.0)

    with pytest.raises(RateLimited) as caught:
        deadline_client(retry=policy).request("GET", "/v2/account")

    assert route.call_count == 1
    assert fake_time.sleeps == []
    assert caught.value.retry_after == 8


def test_a_deadline_exceeded_attempt_is_a_transport_error_naming_the_deadline(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    api.get(f"{API}/v2/account").mock(side_effect=DeadlineExceeded(3.0))

    with pytest.raises(TransportError) as caught:
        make_client(retry=RetryPolicy(attempts=1)).request("GET", "/v2/account")

    assert "no complete answer within 3s" in str(caught.value)
    assert "GET /v2/account" in str(caught.value)


def test_an_answer_over_the_body_cap_is_refused_and_never_retried(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    route = api.get(f"{API}/v2/account").respond(200, content=b"x" * 2048)

    with pytest.raises(DigitalOceanError) as caught:
        make_client(max_body=1024).request("GET", "/v2/account")

    assert route.call_count == 1
    assert not isinstance(caught.value, TransportError)
    assert "larger than 1 KiB" in str(caught.value)


def test_an_answer_at_the_body_cap_is_read_whole(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    api.get(f"{API}/v2/account").respond(200, content=b"x" * 1024)

    assert make_client(max_body=1024).request("GET", "/v2/account").content == b"x" * 1024


def test_body_too_large_is_not_a_transport_error_for_httpx_either() -> None:
    assert not isinstance(BodyTooLarge(1), httpx.TransportError)
    assert isinstance(DeadlineExceeded(1.0), httpx.TimeoutException)


@pytest.mark.parametrize("deadline", [0.0, -1.0])
def test_a_policy_deadline_must_be_positive(deadline: float) -> None:
    with pytest.raises(ValueError, match="deadline"):
        RetryPolicy(deadline=deadline)


def test_error_ids_and_messages_from_the_server_stay_on_one_line(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    api.get(f"{API}/v2/account").respond(
        422,
        json={"id": "bad\nid", "message": "line one\r\nerror: forged\x1b[2J", "request_id": "r\n1"},
    )

    with pytest.raises(DigitalOceanError) as caught:
        make_client().request("GET", "/v2/account")

    text = str(caught.value)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text
    assert "line one\\r\\nerror: forged\\x1b[2J" in text


def test_a_cancelled_request_is_a_transport_error_and_never_retried(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    # No route: respx fails the test if a request is sent at all.
    with pytest.raises(TransportError, match="the process is stopping") as caught:
        make_client(cancelled=lambda: True).request("GET", "/v2/account")

    assert "gave up after" not in str(caught.value)
