"""Contract: what the sandbox says, and what we say to it, matches DigitalOcean's spec.

A representative session (every operation of the reduced spec, successes
and errors) is recorded once; each response, and each request that was
meant to be valid, is then validated with openapi-core against
``digitalocean-openapi.json``. Quirks of that spec (see its README): the
"forbid" policies reject correct bodies, so defaults are used; the
``spacesKey_get`` response schema is wrong (``keys: [...]``), so that body is
also checked against the ``{"key": Key}`` schema of ``spacesKey_update``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from rotator.sandbox import Sandbox
from rotator.sandbox.scopes import find_endpoint
from tests.contract import (
    SERVER,
    Exchange,
    Recorder,
    in_spec,
    openapi_request,
    openapi_response,
)

GRANT = [{"bucket": "media", "permission": "read"}]
DATABASE_OPERATIONS = {
    "databases_get_cluster",
    "databases_list_users",
    "databases_get_user",
    "databases_add_user",
    "databases_delete_user",
    "databases_reset_auth",
}


def operation(exchange: Exchange) -> str | None:
    endpoint, _, _ = find_endpoint(exchange.request.method, exchange.request.url.path)
    return endpoint.operation if endpoint else None


def run_session(sandbox: Sandbox, recorder: Recorder) -> None:
    """Every operation of the reduced spec, the ways rotator and a careless client use them."""
    hooks = {"response": [recorder.hook]}
    everything = sandbox.add_token(["api:write"])
    narrow = sandbox.add_token(["account:read"])
    with httpx.Client(
        base_url=sandbox.url,
        headers={"Authorization": f"Bearer {everything}"},
        event_hooks=hooks,
        timeout=10,
    ) as client:
        client.get("/v2/account")
        for number in range(3):
            client.post("/v2/spaces/keys", json={"name": f"session-{number}", "grants": GRANT})
        page = client.get("/v2/spaces/keys", params={"per_page": 2}).json()
        while "next" in page["links"].get("pages", {}):
            page = client.get(page["links"]["pages"]["next"]).json()
        client.get(
            "/v2/spaces/keys",
            params={
                "sort": "name",
                "sort_direction": "asc",
                "bucket": "media",
                "permission": "read",
            },
        )
        full = [{"bucket": "", "permission": "fullaccess"}]
        created = client.post("/v2/spaces/keys", json={"name": "contract", "grants": full})
        access_key = created.json()["key"]["access_key"]
        client.get(f"/v2/spaces/keys/{access_key}")
        client.put(f"/v2/spaces/keys/{access_key}", json={"name": "renamed"})
        client.patch(f"/v2/spaces/keys/{access_key}", json={"name": "renamed-again"})
        client.delete(f"/v2/spaces/keys/{access_key}")
        client.get(f"/v2/spaces/keys/{access_key}")  # 404
        client.post("/v2/spaces/keys", json={"name": "mixed", "grants": [*full, *GRANT]})  # 400
        bad_permission = [{"bucket": "media", "permission": "write"}]
        client.post("/v2/spaces/keys", json={"name": "bad", "grants": bad_permission})  # 422

        client.get("/v2/apps", params={"per_page": 1})
        app_id = client.get("/v2/apps").json()["apps"][0]["id"]
        spec = client.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
        client.post("/v2/apps/propose", json={"spec": spec, "app_id": app_id})
        updated = client.put(f"/v2/apps/{app_id}", json={"spec": spec}).json()["app"]
        deployment_id = updated["pending_deployment"]["id"]
        client.get(f"/v2/apps/{app_id}/deployments/{deployment_id}")
        client.post(f"/v2/apps/{app_id}/deployments", json={"force_build": False})
        client.get(f"/v2/apps/{app_id}/deployments", params={"per_page": 1})
        client.get(f"/v2/apps/{app_id}")  # with a deployment under way
        client.get("/v2/apps/00000000-0000-0000-0000-000000000000")  # 404

        run_kinds(sandbox, client)

        client.get("/v2/droplets", params={"per_page": 1})
        client.get("/v2/kubernetes/clusters")
        client.get("/v2/databases")
        client.get("/v2/volumes")
        client.get("/v2/domains")

        client.get("/v2/account", headers={"Authorization": f"Bearer {narrow}"})
        client.get("/v2/droplets", headers={"Authorization": f"Bearer {narrow}"})  # 403
        sandbox.add_fault(path="/v2/account", status=500)
        client.get("/v2/account")
        sandbox.add_fault(path="/v2/account", retry_after=3)
        client.get("/v2/account")

        with recorder.deliberately_invalid():
            client.post("/v2/spaces/keys", json={"name": "needs-grants"})
            client.post("/v2/spaces/keys", content=b"{not json")
            client.put(f"/v2/apps/{app_id}", json={})
            client.get("/v2/spaces/keys", params={"per_page": 500})
            client.get("/v2/account", headers={"Authorization": "Bearer unknown"})
            namespace = sandbox.add_function_namespace("invalid")
            client.post(f"/v2/functions/namespaces/{namespace}/keys", json={})  # 400

    with Sandbox(rate_per_minute=1) as limited:
        token = limited.add_token(["account:read"])
        with httpx.Client(
            base_url=limited.url,
            headers={"Authorization": f"Bearer {token}"},
            event_hooks=hooks,
            timeout=10,
        ) as client:
            client.get("/v2/account")
            client.get("/v2/account")  # the real limiter's 429


def run_kinds(sandbox: Sandbox, client: httpx.Client) -> None:
    """The credential kinds beyond Spaces keys: Functions namespace keys, GenAI agent keys."""
    namespace = sandbox.add_function_namespace("contract")
    keys = f"/v2/functions/namespaces/{namespace}/keys"
    created = client.post(keys, json={"name": "contract-fn", "expires_in": "7d"}).json()
    key_id = created["access_key"]["id"]
    client.post(keys, json={"name": "never-expires"})
    client.get(keys)
    client.put(f"{keys}/{key_id}", json={"name": "renamed"})
    client.delete(f"{keys}/{key_id}")
    client.delete(f"{keys}/{key_id}")  # 404
    client.post(keys, json={"name": "too-short", "expires_in": "30m"})  # 400
    client.get("/v2/functions/namespaces/fn-00000000-0000-0000-0000-000000000000/keys")  # 404

    agent = sandbox.add_genai_agent("contract")
    api_keys = f"/v2/gen-ai/agents/{agent}/api_keys"
    made = client.post(api_keys, json={"agent_uuid": agent, "name": "contract"}).json()
    key_uuid = made["api_key_info"]["uuid"]
    client.post(api_keys, json={"agent_uuid": agent, "name": "second"})
    client.get(api_keys, params={"per_page": 1})
    client.put(f"{api_keys}/{key_uuid}", json={"name": "renamed"})
    client.delete(f"{api_keys}/{key_uuid}")
    client.delete(f"{api_keys}/{key_uuid}")  # 404
    client.get("/v2/gen-ai/agents/00000000-0000-0000-0000-000000000000/api_keys")  # 404

    client.get("/v2/registries/demo-registry")
    docker = "/v2/registries/demo-registry/docker-credentials"
    client.get(docker, params={"read_write": "true", "expiry_seconds": 3600})
    client.get(docker)
    client.get("/v2/registries/no-such-registry/docker-credentials")  # 404


@pytest.fixture(scope="module")
def session(openapi_spec) -> list[Exchange]:
    recorder = Recorder()
    with Sandbox(deployment_step_seconds=0.05) as box:
        run_session(box, recorder)
    return recorder.exchanges


def describe(errors: list[Exception]) -> str:
    return "; ".join(f"{type(e).__name__}: {e} {getattr(e, '__cause__', '') or ''}" for e in errors)


def test_the_session_covers_every_operation_of_the_spec(openapi_spec, session):
    with (openapi_spec.spec / "paths").open() as paths:
        spec_operations = {
            operation["operationId"]
            for path in paths.values()
            for operation in path.values()
            if isinstance(operation, dict) and "operationId" in operation
        }
    assert len(spec_operations) == 35
    # The managed-database operations need a PostgreSQL server: test_sandbox_databases.py
    # records and checks them in a session of their own.
    assert spec_operations >= DATABASE_OPERATIONS
    assert spec_operations - DATABASE_OPERATIONS <= {operation(exchange) for exchange in session}


def test_the_session_meets_errors_of_every_kind(session):
    statuses = {exchange.response.status_code for exchange in session}
    assert {200, 201, 204, 400, 401, 403, 404, 422, 429, 500} <= statuses


def test_every_response_the_sandbox_gave_matches_the_spec(openapi_spec, session):
    checked = 0
    for exchange in session:
        if not in_spec(openapi_spec, exchange):
            continue
        errors = list(
            openapi_spec.iter_response_errors(
                openapi_request(exchange.request), openapi_response(exchange.response)
            )
        )
        assert not errors, f"{exchange.label}: {describe(errors)}"
        checked += 1
    assert checked >= 40


def test_a_spaces_key_read_matches_the_key_schema_the_get_operation_should_have(
    openapi_spec, session
):
    reads = [
        e for e in session if operation(e) == "spacesKey_get" and e.response.status_code == 200
    ]
    assert reads
    for exchange in reads:
        access_key = exchange.request.url.path.rsplit("/", 1)[-1]
        as_update = httpx.Request(
            "PUT",
            f"{SERVER}/v2/spaces/keys/{access_key}",
            headers=exchange.request.headers,
            json={"name": "x"},
        )
        errors = list(
            openapi_spec.iter_response_errors(
                openapi_request(as_update), openapi_response(exchange.response)
            )
        )
        assert not errors, f"{exchange.label}: {describe(errors)}"
        assert set(exchange.response.json()) == {"key"}


def test_every_request_meant_to_be_valid_matches_the_spec(openapi_spec, session):
    checked = 0
    for exchange in session:
        if not exchange.request_is_valid or not in_spec(openapi_spec, exchange):
            continue
        errors = list(openapi_spec.iter_request_errors(openapi_request(exchange.request)))
        assert not errors, f"{exchange.label}: {describe(errors)}"
        checked += 1
    assert checked >= 30


def test_the_deliberately_invalid_requests_are_indeed_invalid(openapi_spec, session):
    invalid = [e for e in session if not e.request_is_valid]
    assert invalid
    flagged = [
        e for e in invalid if list(openapi_spec.iter_request_errors(openapi_request(e.request)))
    ]
    # A body without grants passes (the Key schema has no required fields), and
    # unparseable JSON is only caught when the body is read; the rest must fail.
    assert len(flagged) >= 2


def test_the_validator_would_catch_a_wrong_body(openapi_spec, session):
    exchange = next(e for e in session if operation(e) == "account_get" and e.response.is_success)
    broken = json.loads(exchange.response.content)
    broken["account"]["status"] = "frozen"
    forged = httpx.Response(200, json=broken, headers={"content-type": "application/json"})
    assert list(
        openapi_spec.iter_response_errors(
            openapi_request(exchange.request), openapi_response(forged)
        )
    )


KIND_OPERATIONS = {
    "functionsAccessKey_list",
    "functionsAccessKey_create",
    "functionsAccessKey_update",
    "functionsAccessKey_delete",
    "genai_list_agent_api_keys",
    "genai_create_agent_api_key",
    "genai_update_agent_api_key",
    "genai_delete_agent_api_key",
    "registries_get_dockerCredentials",
}


def test_every_credential_kind_operation_was_answered_and_is_in_the_spec(openapi_spec, session):
    answered = {
        operation(e)
        for e in session
        if e.response.is_success and in_spec(openapi_spec, e) and operation(e) in KIND_OPERATIONS
    }
    assert answered == KIND_OPERATIONS


def test_the_secret_is_in_the_create_answers_only(session):
    for exchange in session:
        name = operation(exchange)
        if name not in KIND_OPERATIONS or not exchange.response.is_success:
            continue
        body = exchange.response.text
        shows_secret = '"secret"' in body or '"secret_key"' in body or '"auth"' in body
        minting = ("_create", "create_agent_api_key", "get_dockerCredentials")
        assert shows_secret == name.endswith(minting), exchange.label


def test_the_validator_would_catch_a_wrong_functions_key_answer(openapi_spec, session):
    exchange = next(
        e for e in session if operation(e) == "functionsAccessKey_create" and e.response.is_success
    )
    forged = httpx.Response(
        201,
        json={"access_key": {"id": 7, "secret": ["x"]}},
        headers={"content-type": "application/json"},
    )
    assert list(
        openapi_spec.iter_response_errors(
            openapi_request(exchange.request), openapi_response(forged)
        )
    )
