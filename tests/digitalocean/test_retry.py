from __future__ import annotations

import httpx
import pytest

from rotator.digitalocean.retry import (
    RetryPolicy,
    may_retry_exception,
    may_retry_status,
    required_wait,
)

NOW = 1_700_000_000.0


def test_backoff_doubles_from_the_base_delay_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)

    ceilings = [policy.backoff(n, lambda: 1.0) for n in range(1, 6)]

    assert ceilings == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_is_full_jitter_between_zero_and_the_ceiling() -> None:
    policy = RetryPolicy(base_delay=1.0)

    assert policy.backoff(3, lambda: 0.0) == 0.0
    assert policy.backoff(3, lambda: 0.25) == 1.0


def test_a_policy_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_and_429_are_retried_for_a_get(status: int) -> None:
    assert may_retry_status(status, idempotent=True)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_client_errors_are_never_retried(status: int) -> None:
    assert not may_retry_status(status, idempotent=True)
    assert not may_retry_status(status, idempotent=False)


def test_a_post_is_retried_on_429_but_not_on_a_server_error() -> None:
    assert may_retry_status(429, idempotent=False)
    assert not may_retry_status(503, idempotent=False)


REQUEST = httpx.Request("POST", "https://api.digitalocean.com/v2/spaces/keys")


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused", request=REQUEST),
        httpx.ConnectTimeout("slow", request=REQUEST),
        httpx.PoolTimeout("busy", request=REQUEST),
    ],
)
def test_failures_before_the_request_left_are_retried_even_for_a_post(
    exc: httpx.RequestError,
) -> None:
    assert may_retry_exception(exc, idempotent=False)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("slow", request=REQUEST),
        httpx.RemoteProtocolError("dropped", request=REQUEST),
        httpx.ReadError("reset", request=REQUEST),
        httpx.WriteTimeout("slow", request=REQUEST),
    ],
)
def test_failures_after_sending_are_retried_only_when_idempotent(
    exc: httpx.RequestError,
) -> None:
    assert may_retry_exception(exc, idempotent=True)
    assert not may_retry_exception(exc, idempotent=False)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.UnsupportedProtocol("ftp", request=REQUEST),
        httpx.LocalProtocolError("bad header", request=REQUEST),
        httpx.TooManyRedirects("loop", request=REQUEST),
    ],
)
def test_mistakes_that_would_fail_again_are_not_retried(exc: httpx.RequestError) -> None:
    assert not may_retry_exception(exc, idempotent=True)


def test_retry_after_in_seconds_is_the_wait() -> None:
    assert required_wait({"retry-after": "7"}, NOW) == 7.0


def test_retry_after_as_an_http_date_is_counted_from_now() -> None:
    headers = {"retry-after": "Tue, 14 Nov 2023 22:13:40 GMT"}  # NOW + 20s

    assert required_wait(headers, NOW) == 20.0


def test_ratelimit_reset_is_used_when_retry_after_is_absent() -> None:
    assert required_wait({"ratelimit-reset": str(int(NOW) + 42)}, NOW) == 42.0


def test_retry_after_wins_over_ratelimit_reset() -> None:
    headers = {"retry-after": "3", "ratelimit-reset": str(int(NOW) + 42)}

    assert required_wait(headers, NOW) == 3.0


def test_a_wait_in_the_past_is_zero_not_negative() -> None:
    assert required_wait({"ratelimit-reset": str(int(NOW) - 5)}, NOW) == 0.0


@pytest.mark.parametrize(
    "headers",
    [{}, {"retry-after": "soon"}, {"ratelimit-reset": "later"}, {"retry-after": "inf"}],
)
def test_no_readable_header_means_no_named_wait(headers: dict[str, str]) -> None:
    assert required_wait(headers, NOW) is None
