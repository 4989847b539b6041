"""The logins that prove new registry credentials and Functions keys before they are pushed."""

from __future__ import annotations

import base64

import httpx
import pytest
import respx

from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.logins import functions_key_works, parse_challenge, registry_logs_in
from rotator.errors import DigitalOceanError, TransportError
from rotator.secret import Secret
from tests.digitalocean.client_support import API, CANARY

REGISTRY = "https://registry.digitalocean.com"
PASSWORD = "dop_v1_" + "5e" * 32
USER = Secret(PASSWORD)
BASIC = "Basic " + base64.b64encode(f"{PASSWORD}:{PASSWORD}".encode()).decode()
CHALLENGE = f'Bearer realm="{API}/v2/registry/auth",service="registry.digitalocean.com"'


def challenge(api: respx.MockRouter, header: str = CHALLENGE) -> respx.Route:
    return api.get(f"{REGISTRY}/v2/").respond(401, headers={"www-authenticate": header})


def test_a_bearer_challenge_sends_the_credentials_to_the_realm_as_basic(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    ping = challenge(api)
    realm = api.get(f"{API}/v2/registry/auth").respond(200, json={"token": "t"})

    assert registry_logs_in(client, USER, Secret(PASSWORD)) is True

    assert "authorization" not in ping.calls.last.request.headers
    sent = realm.calls.last.request
    assert sent.headers["authorization"] == BASIC
    assert sent.url.params["service"] == "registry.digitalocean.com"
    assert CANARY not in str(sent.headers)  # never the connection's own token


@pytest.mark.parametrize("status", [401, 403])
def test_credentials_the_realm_refuses_do_not_log_in(
    api: respx.MockRouter, client: DigitalOceanClient, status: int
) -> None:
    challenge(api)
    api.get(f"{API}/v2/registry/auth").respond(status, json={"errors": []})

    assert registry_logs_in(client, USER, Secret(PASSWORD)) is False


def test_a_basic_challenge_sends_the_credentials_to_the_registry_itself(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.get(f"{REGISTRY}/v2/")
    route.side_effect = [
        httpx.Response(401, headers={"www-authenticate": 'Basic realm="registry"'}),
        httpx.Response(200, json={}),
    ]

    assert registry_logs_in(client, USER, Secret(PASSWORD)) is True
    assert route.calls.last.request.headers["authorization"] == BASIC


@pytest.mark.parametrize(
    "realm",
    [
        "https://collector.example.net/token",
        "https://api.digitalocean.com.example.net/v2/registry/auth",
        "http://api.digitalocean.com/v2/registry/auth",
        "not a url at all",
        "https://attacker:chosen@api.digitalocean.com/v2/registry/auth",
        "https://xn--a.digitalocean.com/v2/registry/auth",
    ],
)
def test_a_realm_off_the_registrys_or_the_apis_origin_gets_no_credentials(
    api: respx.MockRouter, client: DigitalOceanClient, realm: str
) -> None:
    challenge(api, f'Bearer realm="{realm}",service="registry.digitalocean.com"')

    with pytest.raises(DigitalOceanError) as raised:
        registry_logs_in(client, USER, Secret(PASSWORD))

    assert "not sent" in str(raised.value) or "HTTPS" in str(raised.value)
    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    ("ping", "login"),
    [
        (httpx.Response(200, json={}), None),
        (httpx.Response(401, headers={"www-authenticate": "Negotiate"}), None),
        (httpx.Response(401), None),
        (httpx.Response(503), None),
        (httpx.Response(401, headers={"www-authenticate": CHALLENGE}), httpx.Response(500)),
        (
            httpx.Response(401, headers={"www-authenticate": CHALLENGE}),
            httpx.Response(200, json={"token": ""}),
        ),
        (
            httpx.Response(401, headers={"www-authenticate": CHALLENGE}),
            httpx.Response(200, content=b"<html>"),
        ),
    ],
    ids=[
        "no challenge",
        "another scheme",
        "no header",
        "ping 503",
        "login 500",
        "empty token",
        "not json",
    ],
)
def test_answers_that_say_neither_yes_nor_no_are_errors_to_retry_later(
    api: respx.MockRouter,
    client: DigitalOceanClient,
    ping: httpx.Response,
    login: httpx.Response | None,
) -> None:
    api.get(f"{REGISTRY}/v2/").mock(return_value=ping)
    if login is not None:
        api.get(f"{API}/v2/registry/auth").mock(return_value=login)

    with pytest.raises(DigitalOceanError) as raised:
        registry_logs_in(client, USER, Secret(PASSWORD))

    assert PASSWORD not in str(raised.value)


def test_an_unreachable_registry_is_a_transport_error(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{REGISTRY}/v2/").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(TransportError):
        registry_logs_in(client, USER, Secret(PASSWORD))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            CHALLENGE,
            (
                "bearer",
                {"realm": f"{API}/v2/registry/auth", "service": "registry.digitalocean.com"},
            ),
        ),
        ('Basic realm="x"', ("basic", {"realm": "x"})),
        ("", ("", {})),
        ('BEARER Realm="r"', ("bearer", {"realm": "r"})),
        ('Bearer realm="r", Basic realm="x"', ("bearer", {"realm": "r"})),
        ("Bearer realm=r,service=svc", ("bearer", {"realm": "r", "service": "svc"})),
        (
            'Bearer realm="r",scope="repo:a:pull,push"',
            ("bearer", {"realm": "r", "scope": "repo:a:pull,push"}),
        ),
    ],
)
def test_challenges_are_parsed_case_insensitively(header: str, expected: tuple) -> None:
    assert parse_challenge(header) == expected


FN_HOST = "https://faas-nyc1-2ef2e6cc.doserverless.co"
KEY_ID = "dof_v1_" + "ab" * 16
FN_SECRET = "dof_secret_" + "x" * 40


def test_a_functions_key_is_checked_as_basic_auth_on_the_namespaces_api_host(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.get(f"{FN_HOST}/api/v1/namespaces/_/actions").respond(200, json=[])

    assert functions_key_works(client, FN_HOST, KEY_ID, Secret(FN_SECRET)) is True

    sent = route.calls.last.request
    pair = base64.b64encode(f"{KEY_ID}:{FN_SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {pair}"
    assert sent.url.params["limit"] == "1"


@pytest.mark.parametrize("status", [401, 403])
def test_a_functions_key_the_host_refuses_does_not_work(
    api: respx.MockRouter, client: DigitalOceanClient, status: int
) -> None:
    api.get(f"{FN_HOST}/api/v1/namespaces/_/actions").respond(status, json={"error": "no"})

    assert functions_key_works(client, FN_HOST, KEY_ID, Secret(FN_SECRET)) is False


@pytest.mark.parametrize(
    "host",
    [
        "http://faas-nyc1-2ef2e6cc.doserverless.co",
        "https://collector.example.net",
        "https://doserverless.co.example.net",
        "https://evil-doserverless.co",
        "not a url",
        "https://other:key@faas-nyc1-2ef2e6cc.doserverless.co",
        "https://xn--a.doserverless.co",
    ],
)
def test_a_functions_key_is_never_sent_to_a_host_outside_doserverless_co_over_https(
    api: respx.MockRouter, client: DigitalOceanClient, host: str
) -> None:
    with pytest.raises(DigitalOceanError) as raised:
        functions_key_works(client, host, KEY_ID, Secret(FN_SECRET))

    assert "not sent" in str(raised.value)
    assert FN_SECRET not in str(raised.value)


def test_a_functions_host_that_answers_neither_yes_nor_no_is_an_error(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{FN_HOST}/api/v1/namespaces/_/actions").respond(502)

    with pytest.raises(DigitalOceanError):
        functions_key_works(client, FN_HOST, KEY_ID, Secret(FN_SECRET))


def test_the_first_usable_challenge_among_several_headers_is_taken(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{REGISTRY}/v2/").mock(
        return_value=httpx.Response(
            401,
            headers=[
                ("www-authenticate", 'Negotiate realm="x"'),
                ("www-authenticate", CHALLENGE),
                ("www-authenticate", 'Basic realm="elsewhere"'),
            ],
        )
    )
    realm = api.get(f"{API}/v2/registry/auth").respond(200, json={"access_token": "t"})

    assert registry_logs_in(client, USER, Secret(PASSWORD)) is True
    assert realm.call_count == 1
