"""The canary token must never surface in an error, a log line or a repr."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import httpx
import pytest
import respx

from rotator.digitalocean.account import validate
from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import DigitalOceanError
from tests.digitalocean.client_support import API, CANARY, OAUTH

HEX = CANARY.removeprefix("dop_v1_")


def assert_no_canary(text: str) -> None:
    assert CANARY not in text
    assert HEX not in text


def everything_said_about(error: BaseException) -> str:
    """str, repr, args and the full traceback of the error and its causes."""
    parts = ["".join(traceback.format_exception(error))]
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and not any(current is known for known in seen):
        seen.append(current)
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# Factories, so each test raises exceptions of its own.
FAILURES: list[Callable[[], httpx.Response | Exception]] = [
    lambda: httpx.Response(
        401, json={"id": "unauthorized", "message": "Unable to authenticate you."}
    ),
    lambda: httpx.Response(403, json={"id": "forbidden", "message": "You are not authorized."}),
    lambda: httpx.Response(404, json={"id": "not_found", "message": "The resource was not found."}),
    lambda: httpx.Response(422, json={"id": "unprocessable_entity", "message": "bad"}),
    lambda: httpx.Response(429, json={"id": "too_many_requests"}, headers={"retry-after": "999"}),
    lambda: httpx.Response(500, json={"id": "server_error", "message": "Unexpected"}),
    # A server (or a proxy) that echoes the token back in its error.
    lambda: httpx.Response(400, json={"id": "bad_request", "message": f"bad token {CANARY}"}),
    lambda: httpx.Response(400, json={"id": CANARY, "request_id": CANARY}),
    lambda: httpx.ConnectError("[Errno 111] Connection refused"),
    lambda: httpx.ReadTimeout("timed out"),
    lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
    lambda: httpx.Response(200, content=b"not json"),
]


@pytest.mark.parametrize("make_failure", FAILURES, ids=lambda make: repr(make())[:40])
def test_no_error_or_log_line_ever_holds_the_token(
    api: respx.MockRouter,
    client: DigitalOceanClient,
    caplog: pytest.LogCaptureFixture,
    make_failure: Callable[[], httpx.Response | Exception],
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    api.get(f"{API}/v2/apps/x").mock(side_effect=lambda request: _raise_or_return(make_failure()))

    with pytest.raises(DigitalOceanError) as caught:
        client.get_json("/v2/apps/x")

    assert_no_canary(everything_said_about(caught.value))
    assert_no_canary(caplog.text)
    assert_no_canary("\n".join(repr(record.args) for record in caplog.records))


def _raise_or_return(failure: httpx.Response | Exception) -> httpx.Response:
    if isinstance(failure, Exception):
        raise failure
    return failure


def test_a_token_echoed_by_the_server_is_masked_in_the_error(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{API}/v2/apps/x").respond(400, json={"message": f"bad token {CANARY}"})

    with pytest.raises(DigitalOceanError, match=r"bad token \[token\]"):
        client.get_json("/v2/apps/x")


def test_a_full_validation_logs_nothing_secret_and_its_result_holds_no_token(
    api: respx.MockRouter, client: DigitalOceanClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.get(f"{API}/v2/account").respond(
        200, json={"account": {"email": "a@b.c", "uuid": "u", "status": "locked"}}
    )
    api.get(f"{OAUTH}/v1/oauth/token/info").respond(200, json={"scopes": ["account:read"]})

    result = validate(client)

    assert result.status == "valid"
    assert_no_canary(repr(result))
    assert_no_canary(caplog.text)


def test_the_client_its_stats_and_its_budget_print_no_token(client: DigitalOceanClient) -> None:
    printed = [repr(client), str(client), repr(client.stats), repr(client.budget)]

    for text in printed:
        assert_no_canary(text)
    assert client.fingerprint in repr(client)
