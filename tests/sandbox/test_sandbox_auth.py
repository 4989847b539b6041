"""Authentication: which tokens open the API, and what the sandbox remembers of them."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import httpx
import pytest

from rotator.sandbox import Sandbox
from tests.sandbox.helpers import assert_error
from tests.support.clock import FakeClock


def test_a_valid_personal_token_reads_the_account(sandbox, client_for):
    response = client_for(["account:read"]).get("/v2/account")
    assert response.status_code == 200
    account = response.json()["account"]
    assert account["status"] == "active"
    assert account["uuid"] == sandbox.default_account
    assert {"droplet_limit", "floating_ip_limit", "volume_limit", "reserved_ip_limit"} <= set(
        account
    )
    assert set(account["team"]) == {"uuid", "name"}


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        ("personal", r"dop_v1_[0-9a-f]{64}"),
        ("oauth", r"doo_v1_[0-9a-f]{64}"),
        ("legacy", r"[0-9a-f]{64}"),
    ],
)
def test_minted_tokens_have_digitaloceans_format(sandbox, kind, pattern):
    assert re.fullmatch(pattern, sandbox.add_token(["account:read"], kind=kind))


def test_an_unknown_token_is_unauthorized(client_for):
    response = client_for(token="dop_v1_" + "0" * 64).get("/v2/account")
    assert_error(response, 401, "unauthorized")
    assert response.json()["message"] == "Unable to authenticate you"


def test_a_revoked_token_is_unauthorized(sandbox, client_for):
    token = sandbox.add_token(["account:read"])
    client = client_for(token=token)
    assert client.get("/v2/account").status_code == 200
    sandbox.revoke_token(token)
    assert_error(client.get("/v2/account"), 401, "unauthorized")


def test_an_expired_token_is_unauthorized(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds) as box:
        token = box.add_token(["account:read"], expires_in_seconds=60)
        client = client_for(token=token, target=box)
        assert client.get("/v2/account").status_code == 200
        fake_clock.advance(61)
        assert_error(client.get("/v2/account"), 401, "unauthorized")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b"],
)
def test_a_missing_or_malformed_authorization_header_is_unauthorized(sandbox, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=sandbox.url) as client:
        assert_error(client.get("/v2/account", headers=headers), 401, "unauthorized")


def test_token_info_reports_the_scopes_as_granted_with_doctls_fields(sandbox, client_for):
    token = sandbox.add_token(["api:read", "spaces_key:create_credentials"])
    response = client_for(token=token).get("/v1/oauth/token/info")
    assert response.status_code == 200
    info = response.json()
    assert set(info) == {
        "resource_owner_id",
        "scopes",
        "expires_in_seconds",
        "application",
        "created_at",
    }
    assert info["scopes"] == ["api:read", "spaces_key:create_credentials"]
    assert isinstance(info["resource_owner_id"], int)
    assert isinstance(info["created_at"], int)
    assert info["expires_in_seconds"] is None
    assert info["application"] == {"uid": None}


def test_token_info_needs_no_scope_but_a_valid_token(sandbox, client_for):
    assert client_for([]).get("/v1/oauth/token/info").status_code == 200
    assert_error(client_for(token="nope").get("/v1/oauth/token/info"), 401, "unauthorized")


def test_token_info_counts_down_an_expiring_oauth_token(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds, seed=False) as box:
        token = box.add_token(["account:read"], kind="oauth", expires_in_seconds=3600)
        fake_clock.advance(600)
        info = client_for(token=token, target=box).get("/v1/oauth/token/info").json()
        assert info["expires_in_seconds"] == 3000
        assert isinstance(info["application"]["uid"], str)


def test_the_sandbox_keeps_only_the_tokens_hash(tmp_path, client_for):
    state_file = tmp_path / "state.json"
    with Sandbox(state_file) as box:
        token = box.add_token(["account:read"])
        client_for(token=token, target=box).get("/v2/account")
        everything = (
            json.dumps(box.snapshot()) + state_file.read_text() + json.dumps(box.requests())
        )
    assert token not in everything
    assert token.removeprefix("dop_v1_") not in everything
    assert hashlib.sha256(token.encode()).hexdigest() in everything


def test_the_request_log_names_a_token_by_its_fingerprint(sandbox, client_for):
    token = sandbox.add_token(["account:read"])
    client_for(token=token).get("/v2/account", params={"x": "1"})
    [entry] = sandbox.requests()
    assert entry["token"] == hashlib.sha256(token.encode()).hexdigest()[:12]
    assert entry["method"] == "GET"
    assert entry["path"] == "/v2/account"
    assert entry["query"] == "x=1"
    assert entry["status"] == 200
    assert {"time", "request_id"} <= set(entry)


def test_tokens_for_another_account_see_that_account(sandbox, client_for):
    other = "f" * 40
    mine = client_for(["account:read"]).get("/v2/account").json()["account"]
    theirs = client_for(token=sandbox.add_token(["account:read"], account=other))
    assert theirs.get("/v2/account").json()["account"]["uuid"] == other
    assert mine["uuid"] != other


def test_a_locked_account_shows_its_status_and_message(sandbox, client_for):
    sandbox.set_account_status("locked", "billing problem")
    account = client_for(["account:read"]).get("/v2/account").json()["account"]
    assert (account["status"], account["status_message"]) == ("locked", "billing problem")


def test_unknown_scopes_and_kinds_are_refused_when_minting(sandbox):
    with pytest.raises(ValueError, match="unknown scope"):
        sandbox.add_token(["droplets:read"])
    with pytest.raises(ValueError, match="kind"):
        sandbox.add_token(["account:read"], kind="refresh")


def test_helpers_use_the_clock_they_are_given():
    clock = FakeClock(1_000.0)
    with Sandbox(clock=clock.seconds, seed=False) as box:
        box.add_token(["account:read"])
        assert box.snapshot()["tokens"][0]["created_at"] == 1_000.0


def test_an_oauth_revoke_ends_the_named_token_of_the_callers_account_only(sandbox, client_for):
    caller = sandbox.add_token(["account:read"])
    mine = sandbox.add_token(["account:read"])
    theirs = sandbox.add_token(["account:read"], account="e" * 40)
    client = client_for(token=caller)
    for token in (mine, theirs, "dop_v1_" + "0" * 64):
        response = client.post("/v1/oauth/revoke", data={"token": token})
        assert response.status_code == 200 and response.json() == {}
    assert_error(client_for(token=mine).get("/v2/account"), 401, "unauthorized")
    assert client_for(token=theirs).get("/v2/account").status_code == 200
    assert client.post("/v1/oauth/revoke").status_code == 200  # nothing named
    assert_error(client.post("/v1/oauth/revoke", content=b"token=\xff"), 400, "bad_request")


def test_registry_credentials_stop_opening_once_their_token_is_revoked(sandbox, client_for):
    minted = sandbox.add_registry_credentials("demo-registry", expiry_seconds=3600)
    password = minted["password"]
    assert sandbox.registry_login_works("demo-registry", minted["username"], password)
    response = client_for(token=password).post("/v1/oauth/revoke", data={"token": password})
    assert response.status_code == 200
    assert not sandbox.registry_login_works("demo-registry", minted["username"], password)
    assert minted["id"] not in {c["id"] for c in sandbox.registry_credentials("demo-registry")}
    assert_error(client_for(token=password).post("/v1/oauth/revoke"), 401, "unauthorized")


def basic(user: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def test_a_namespace_api_host_answers_its_keys_as_openwhisk_does(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds, seed=False) as box:
        namespace = box.add_function_namespace("checks")
        other = box.add_function_namespace("other")
        key = box.add_function_key(namespace, "ci", expires_in="1h")
        shown = client_for(["function:admin"], target=box).get(
            f"/v2/functions/namespaces/{namespace}"
        )
        api_host = shown.json()["namespace"]["api_host"]
        assert api_host == box.url
        with httpx.Client(base_url=api_host) as client:

            def actions(ns: str, user: str, password: str) -> int:
                path = f"/api/v1/namespaces/{ns}/actions"
                headers = basic(user, password)
                return client.get(path, params={"limit": 1}, headers=headers).status_code

            assert actions("_", key["id"], key["secret"]) == 200
            assert actions(namespace, key["id"], key["secret"]) == 200
            assert actions(other, key["id"], key["secret"]) == 403
            assert actions("_", key["id"], key["secret"] + "x") == 401
            assert client.get("/api/v1/namespaces/_/actions").status_code == 401
            fake_clock.advance(3601)
            assert actions("_", key["id"], key["secret"]) == 401  # expired
