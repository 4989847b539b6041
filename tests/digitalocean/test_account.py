from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
import respx

from rotator.digitalocean.account import LACKS_ACCOUNT_READ, Validation, validate
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.tokens import LEGACY_WARNING
from rotator.secret import Secret
from tests.digitalocean.client_support import API, OAUTH, MakeClient
from tests.support.clock import FakeClock

ACCOUNT_URL = f"{API}/v2/account"
TOKEN_INFO_URL = f"{OAUTH}/v1/oauth/token/info"
CHECKED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def account_body(status: str = "active", message: str = " ") -> dict[str, object]:
    return {
        "account": {
            "email": "sammy@example.com",
            "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
            "status": status,
            "status_message": message,
            "droplet_limit": 25,
        }
    }


def check(client: DigitalOceanClient) -> Validation:
    return validate(client, now=lambda: CHECKED_AT)


def test_a_200_for_an_active_account_is_valid_and_records_the_account(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(ACCOUNT_URL).respond(200, json=account_body())
    api.get(TOKEN_INFO_URL).respond(404)

    result = check(client)

    assert result.status == "valid"
    assert result.account is not None
    assert (result.account.email, result.account.status) == ("sammy@example.com", "active")
    assert result.warnings == []
    assert result.token_info is None
    assert "sammy@example.com" in result.reason
    assert result.checked_at == CHECKED_AT


@pytest.mark.parametrize(
    ("status", "message"),
    [("warning", "Your account has an unpaid invoice."), ("locked", "Account locked.")],
)
def test_a_200_for_a_warned_or_locked_account_is_valid_with_a_warning_quoting_why(
    api: respx.MockRouter, client: DigitalOceanClient, status: str, message: str
) -> None:
    api.get(ACCOUNT_URL).respond(200, json=account_body(status, message))
    api.get(TOKEN_INFO_URL).respond(404)

    result = check(client)

    assert result.status == "valid"
    assert result.warnings == [f"account status is {status}: {message}"]


def test_a_200_learns_scopes_and_expiry_from_token_info(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(ACCOUNT_URL).respond(200, json=account_body())
    api.get(TOKEN_INFO_URL).respond(
        200, json={"scopes": ["account:read"], "expires_in_seconds": 86400 * 30}
    )

    result = check(client)

    assert result.token_info is not None
    assert result.token_info.scopes == ("account:read",)
    assert result.warnings == []


def test_a_token_expiring_within_a_week_is_valid_with_a_warning(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(ACCOUNT_URL).respond(200, json=account_body())
    api.get(TOKEN_INFO_URL).respond(200, json={"scopes": [], "expires_in_seconds": 3 * 86400})

    result = check(client)

    assert result.status == "valid"
    assert result.warnings == ["token expires in 3 days"]


def test_a_failing_token_info_never_fails_a_validation(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(ACCOUNT_URL).respond(200, json=account_body())
    api.get(TOKEN_INFO_URL).mock(side_effect=httpx.ReadTimeout("timed out"))

    result = check(client)

    assert (result.status, result.token_info) == ("valid", None)


def test_a_401_is_invalid(api: respx.MockRouter, client: DigitalOceanClient) -> None:
    api.get(ACCOUNT_URL).respond(
        401,
        json={"id": "unauthorized", "message": "Unable to authenticate you."},
        headers={"x-request-id": "req-401"},
    )

    result = check(client)

    assert result.status == "invalid"
    assert "401" in result.reason
    assert (result.account, result.request_id) == (None, "req-401")


def test_a_403_with_token_info_is_valid_but_warns_that_account_read_is_missing(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(ACCOUNT_URL).respond(403, json={"id": "forbidden", "message": "not authorized"})
    api.get(TOKEN_INFO_URL).respond(200, json={"scopes": ["spaces_key:read"]})

    result = check(client)

    assert result.status == "valid"
    assert result.warnings == [LACKS_ACCOUNT_READ]
    assert result.token_info is not None
    assert result.token_info.scopes == ("spaces_key:read",)
    assert result.account is None


def test_a_403_without_token_info_is_still_valid_with_the_warning(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(ACCOUNT_URL).respond(403, json={"id": "forbidden", "message": "not authorized"})
    api.get(TOKEN_INFO_URL).respond(401)

    result = check(client)

    assert result.status == "valid"
    assert result.warnings == [LACKS_ACCOUNT_READ]
    assert result.token_info is None


def test_a_429_is_unknown_never_invalid(
    api: respx.MockRouter, client: DigitalOceanClient, fake_time: FakeClock
) -> None:
    api.get(ACCOUNT_URL).respond(
        429, json={"id": "too_many_requests"}, headers={"retry-after": "300"}
    )

    result = check(client)

    assert result.status == "unknown"
    assert result.reason == "rate limited by DigitalOcean (429); retry after 300s"
    assert fake_time.sleeps == []  # 300s does not fit the budget: no point waiting


def test_a_500_that_persists_is_unknown(api: respx.MockRouter, client: DigitalOceanClient) -> None:
    api.get(ACCOUNT_URL).respond(500, json={"id": "server_error", "message": "Unexpected"})

    result = check(client)

    assert result.status == "unknown"
    assert "server error" in result.reason
    assert "500" in result.reason


def test_a_500_then_200_is_valid(api: respx.MockRouter, client: DigitalOceanClient) -> None:
    api.get(ACCOUNT_URL).mock(
        side_effect=[httpx.Response(500), httpx.Response(200, json=account_body())]
    )
    api.get(TOKEN_INFO_URL).respond(404)

    assert check(client).status == "valid"


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (httpx.ReadTimeout("timed out"), "timed out after 10s"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (httpx.RemoteProtocolError("Server disconnected"), "connection dropped"),
    ],
)
def test_no_answer_is_unknown_and_says_why(
    api: respx.MockRouter, client: DigitalOceanClient, failure: Exception, words: str
) -> None:
    api.get(ACCOUNT_URL).mock(side_effect=failure)

    result = check(client)

    assert result.status == "unknown"
    assert result.reason.startswith("no answer from DigitalOcean: ")
    assert words in result.reason


def test_an_unreadable_200_is_unknown(api: respx.MockRouter, client: DigitalOceanClient) -> None:
    api.get(ACCOUNT_URL).respond(200, content=b"<html>maintenance</html>")

    result = check(client)

    assert result.status == "unknown"
    assert "not JSON" in result.reason


def test_a_legacy_token_is_valid_with_a_warning_to_replace_it(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    api.get(ACCOUNT_URL).respond(200, json=account_body())
    api.get(TOKEN_INFO_URL).respond(404)
    client = make_client(token=Secret("ab" * 32))

    assert check(client).warnings == [LEGACY_WARNING]


def test_the_check_time_is_recorded_in_utc(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(ACCOUNT_URL).respond(401)
    paris = timezone(timedelta(hours=2))

    result = validate(client, now=lambda: datetime(2026, 5, 1, 14, 0, tzinfo=paris))

    assert result.checked_at == CHECKED_AT
    assert result.checked_at.tzinfo is UTC


def test_a_naive_clock_is_refused(client: DigitalOceanClient) -> None:
    with pytest.raises(ValueError, match="aware"):
        validate(client, now=lambda: datetime(2026, 5, 1, 12, 0))
