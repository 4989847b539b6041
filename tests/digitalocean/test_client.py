from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import respx

import rotator
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.models import Account
from rotator.digitalocean.retry import RetryPolicy
from rotator.errors import (
    APIError,
    DigitalOceanError,
    Forbidden,
    InvalidTokenFormat,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    Unprocessable,
)
from rotator.secret import Secret
from tests.digitalocean.client_support import API, CANARY, OAUTH, MakeClient

ACCOUNT = {
    "account": {
        "droplet_limit": 25,
        "floating_ip_limit": 5,
        "volume_limit": 100,
        "email": "sammy@example.com",
        "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
        "email_verified": True,
        "status": "active",
        "status_message": " ",
        "team": {"uuid": "5df3e3004a17e242b7c20ca6c9fc25b701a47ece", "name": "My Team"},
    }
}


def test_every_request_carries_the_bearer_token_and_rotators_user_agent(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.get(f"{API}/v2/account").respond(200, json=ACCOUNT)

    client.request("GET", "/v2/account")

    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {CANARY}"
    assert sent.headers["user-agent"] == f"rotator/{rotator.__version__}"


def test_clients_sharing_one_http_client_each_send_their_own_token(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    route = api.get(f"{API}/v2/account").respond(200, json=ACCOUNT)
    other = "dop_v1_" + "ab" * 32
    with httpx.Client() as shared:
        make_client(http=shared).request("GET", "/v2/account")
        make_client(http=shared, token=Secret(other)).request("GET", "/v2/account")

        assert "authorization" not in shared.headers
    tokens = [call.request.headers["authorization"] for call in route.calls]
    assert tokens == [f"Bearer {CANARY}", f"Bearer {other}"]


def test_many_threads_sharing_one_http_client_never_mix_up_tokens(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    def echo_token_as_uuid(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        # The token's 64 hex digits: an account uuid has no room for its prefix.
        uuid = token.removeprefix("dop_v1_")
        return httpx.Response(200, json={"account": {"email": "e@x.io", "uuid": uuid}})

    api.get(f"{API}/v2/account").mock(side_effect=echo_token_as_uuid)
    tokens = [f"dop_v1_{number:064x}" for number in range(200)]

    def uuid_seen_by(token: str) -> str:
        return make_client(http=shared, token=Secret(token)).account().uuid

    with httpx.Client() as shared, ThreadPoolExecutor(max_workers=16) as pool:
        seen = list(pool.map(uuid_seen_by, tokens))

    assert seen == [token.removeprefix("dop_v1_") for token in tokens]


def test_closing_a_client_leaves_a_shared_http_client_open(make_client: MakeClient) -> None:
    with httpx.Client() as shared:
        with make_client(http=shared):
            pass

        assert not shared.is_closed


def test_a_client_closes_the_http_client_it_opened(make_client: MakeClient) -> None:
    with make_client() as client:
        http = client._http

    assert http.is_closed


def test_params_and_json_are_sent_as_given(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.post(f"{API}/v2/spaces/keys", params={"dry": "1"}).respond(201, json={})

    client.request("POST", "/v2/spaces/keys", params={"dry": "1"}, json={"name": "k"})

    assert route.calls.last.request.content == b'{"name":"k"}'


def test_the_api_url_can_point_at_a_local_sandbox(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    api.get("http://127.0.0.1:8089/v2/account").respond(200, json=ACCOUNT)

    account = make_client(api_url="http://127.0.0.1:8089/").account()

    assert account.email == "sammy@example.com"


def test_a_path_must_be_under_the_api_url(client: DigitalOceanClient) -> None:
    with pytest.raises(ValueError, match="starting with '/'"):
        client.request("GET", "https://elsewhere.example/v2/account")


@pytest.mark.parametrize(
    "bad", ["", "dop_v1_abc\n", "dop v1", "dop_v1_\x00"], ids=["empty", "newline", "space", "nul"]
)
def test_a_token_that_cannot_go_in_a_header_is_refused_up_front(bad: str) -> None:
    with pytest.raises(InvalidTokenFormat, match="HTTP header") as caught:
        DigitalOceanClient(Secret(bad))

    assert bad.strip() == "" or bad not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, Unprocessable),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, APIError),
        (422, Unprocessable),
    ],
)
def test_each_error_status_raises_its_typed_error_without_retrying(
    api: respx.MockRouter, client: DigitalOceanClient, status: int, error_class: type[APIError]
) -> None:
    route = api.get(f"{API}/v2/apps/x").respond(
        status, json={"id": "some_id", "message": "it went wrong", "request_id": "req-1"}
    )

    with pytest.raises(error_class) as caught:
        client.request("GET", "/v2/apps/x")

    error = caught.value
    assert type(error) is error_class
    assert (error.status, error.error_id, error.message) == (status, "some_id", "it went wrong")
    assert (error.request_id, error.method, error.path) == ("req-1", "GET", "/v2/apps/x")
    assert route.call_count == 1


def test_the_request_id_falls_back_to_the_x_request_id_header(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{API}/v2/account").respond(
        401,
        json={"id": "unauthorized", "message": "Unable to authenticate you."},
        headers={"x-request-id": "hdr-123"},
    )

    with pytest.raises(Unauthorized) as caught:
        client.request("GET", "/v2/account")

    assert caught.value.request_id == "hdr-123"
    assert "[request id hdr-123]" in str(caught.value)


def test_an_error_without_a_json_body_uses_the_reason_phrase(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    api.get(f"{API}/v2/account").respond(502, text="<html>bad gateway</html>")

    with pytest.raises(ServerError) as caught:
        make_client(retry=RetryPolicy(attempts=1)).request("GET", "/v2/account")

    assert caught.value.message == "Bad Gateway"
    assert caught.value.error_id is None


def test_error_messages_never_show_the_query_string(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{API}/v2/apps").respond(404, json={"id": "not_found", "message": "nope"})

    with pytest.raises(NotFound) as caught:
        client.request("GET", "/v2/apps", params={"signature": "s3cr3t"})

    assert caught.value.path == "/v2/apps"
    assert "s3cr3t" not in str(caught.value)


def test_get_json_returns_the_decoded_object(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{API}/v2/apps/x").respond(200, json={"app": {"id": "x"}})

    assert client.get_json("/v2/apps/x") == {"app": {"id": "x"}}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"], ids=["not json", "not an object"])
def test_get_json_refuses_an_answer_that_is_not_a_json_object(
    api: respx.MockRouter, client: DigitalOceanClient, body: bytes
) -> None:
    api.get(f"{API}/v2/apps/x").respond(200, content=body)

    with pytest.raises(DigitalOceanError, match="GET /v2/apps/x"):
        client.get_json("/v2/apps/x")


def test_the_account_is_read_with_its_team_and_unknown_fields_ignored(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{API}/v2/account").respond(200, json=ACCOUNT)

    assert client.account() == Account(
        email="sammy@example.com",
        uuid="b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
        status="active",
        status_message="",
        email_verified=True,
        team_name="My Team",
        team_uuid="5df3e3004a17e242b7c20ca6c9fc25b701a47ece",
    )


def test_an_account_with_only_email_and_uuid_is_read_with_defaults(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{API}/v2/account").respond(200, json={"account": {"email": "a@b.c", "uuid": "u"}})

    account = client.account()

    assert (account.status, account.team_name, account.email_verified) == ("active", None, None)


@pytest.mark.parametrize(
    "body", [{}, {"account": []}, {"account": {"email": "a@b.c"}}, {"account": {"uuid": 1}}]
)
def test_an_account_answer_without_email_and_uuid_is_an_error(
    api: respx.MockRouter, client: DigitalOceanClient, body: object
) -> None:
    api.get(f"{API}/v2/account").respond(200, json=body)

    with pytest.raises(DigitalOceanError, match="/v2/account"):
        client.account()


TOKEN_INFO = {
    "resource_owner_id": 123,
    "scopes": ["account:read", "spaces_key:read"],
    "expires_in_seconds": 2591999,
    "application": {"uid": "app-uid"},
    "created_at": 1700000000,
}


def test_token_info_is_read_from_the_oauth_host_with_the_same_token(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.get(f"{OAUTH}/v1/oauth/token/info").respond(200, json=TOKEN_INFO)

    info = client.token_info()

    assert info is not None
    assert info.scopes == ("account:read", "spaces_key:read")
    assert (info.expires_in_seconds, info.resource_owner_id) == (2591999, 123)
    assert (info.application_uid, info.created_at) == ("app-uid", 1700000000)
    assert route.calls.last.request.headers["authorization"] == f"Bearer {CANARY}"


def test_token_info_without_an_expiry_means_the_token_does_not_expire(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{OAUTH}/v1/oauth/token/info").respond(
        200, json={"scopes": [], "expires_in_seconds": None}
    )

    info = client.token_info()

    assert info is not None
    assert info.expires_in_seconds is None


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 503])
def test_token_info_is_none_on_any_error_answer_after_one_attempt(
    api: respx.MockRouter, client: DigitalOceanClient, status: int
) -> None:
    route = api.get(f"{OAUTH}/v1/oauth/token/info").respond(status, json={"id": "x"})

    assert client.token_info() is None
    assert route.call_count == 1


def test_token_info_is_none_when_the_oauth_host_cannot_be_reached(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{OAUTH}/v1/oauth/token/info").mock(side_effect=httpx.ConnectError("refused"))

    assert client.token_info() is None


@pytest.mark.parametrize(
    "body",
    [
        b"<html>login</html>",
        b"[]",
        b'{"resource_owner_id": 123}',
        b'{"scopes": "account:read"}',
        b'{"scopes": ["account:read", 7]}',
    ],
    ids=["html", "a list", "no scopes", "scopes not a list", "a scope not a string"],
)
def test_token_info_is_none_for_a_malformed_answer(
    api: respx.MockRouter, client: DigitalOceanClient, body: bytes
) -> None:
    api.get(f"{OAUTH}/v1/oauth/token/info").respond(200, content=body)

    assert client.token_info() is None


def test_a_429_is_a_rate_limited_error_counted_in_the_stats(
    api: respx.MockRouter, make_client: MakeClient
) -> None:
    api.get(f"{API}/v2/account").respond(429, json={"id": "too_many_requests", "message": "m"})
    client = make_client(retry=RetryPolicy(attempts=1))

    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/v2/account")

    assert caught.value.retry_after is None
    assert (client.stats.calls, client.stats.rate_limited) == (1, 1)


REGISTRY_TOKEN = "dop_v1_" + "cd" * 32


def test_an_oauth_revoke_posts_the_token_as_a_form_authenticated_by_that_token(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.post(f"{OAUTH}/v1/oauth/revoke").respond(200, json={})
    check = api.get(f"{OAUTH}/v1/oauth/token/info").respond(401, json={"id": "unauthorized"})

    assert client.revoke_oauth_token(Secret(REGISTRY_TOKEN)) is True

    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {REGISTRY_TOKEN}"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.content == f"token={REGISTRY_TOKEN}".encode()
    assert CANARY not in sent.content.decode()  # the connection's own token stays out of it
    # Confirmed gone with the token itself, not the connection's.
    assert check.calls.last.request.headers["authorization"] == f"Bearer {REGISTRY_TOKEN}"


@pytest.mark.parametrize(
    ("revoke", "info", "expected"),
    [
        (200, 401, True),
        (200, 500, True),  # token info cannot tell: the 200 stands
        (200, 200, "still authenticates"),
        (401, 401, False),  # refused because it is gone already
        (401, 200, "not confirmed gone"),
        (401, 503, "not confirmed gone"),
    ],
)
def test_an_oauth_revoke_is_confirmed_by_trying_the_token(
    api: respx.MockRouter,
    client: DigitalOceanClient,
    revoke: int,
    info: int,
    expected: bool | str,
) -> None:
    api.post(f"{OAUTH}/v1/oauth/revoke").respond(revoke, json={"id": "x"})
    api.get(f"{OAUTH}/v1/oauth/token/info").respond(info, json={"scopes": ["registry:read"]})

    if isinstance(expected, bool):
        assert client.revoke_oauth_token(Secret(REGISTRY_TOKEN)) is expected
    else:
        with pytest.raises(DigitalOceanError, match=expected) as raised:
            client.revoke_oauth_token(Secret(REGISTRY_TOKEN))
        assert REGISTRY_TOKEN not in str(raised.value)


def test_a_failed_oauth_revoke_is_retried_and_its_error_never_quotes_the_token(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.post(f"{OAUTH}/v1/oauth/revoke").respond(
        500, json={"id": "server_error", "message": f"cannot revoke {REGISTRY_TOKEN}"}
    )

    with pytest.raises(ServerError) as raised:
        client.revoke_oauth_token(Secret(REGISTRY_TOKEN))

    assert route.call_count > 1
    assert REGISTRY_TOKEN not in str(raised.value)


def test_an_oauth_revoke_refuses_a_token_that_cannot_go_in_a_header(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    with pytest.raises(InvalidTokenFormat) as raised:
        client.revoke_oauth_token(Secret("dop_v1_abc\ndef"))

    assert "abc" not in str(raised.value)
