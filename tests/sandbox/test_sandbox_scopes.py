"""Scopes: checked right after authentication, before the body is read or an id looked up.

That order is what lets rotator probe a write scope with a request that
cannot succeed (no body, or an id that does not exist) and change nothing.
"""

from __future__ import annotations

import re

import pytest

from rotator.sandbox import scopes
from rotator.sandbox.scopes import ENDPOINTS, KNOWN_SCOPES, READ_SCOPES, Endpoint
from tests.sandbox.helpers import assert_error

MISSING_ID = "sandbox-no-such-id"
# What a holder of the scope gets back from a probe: a list answers, the rest
# find no body or no such id.
EXPECTED_WITH_SCOPE = {
    "list": 200,
    "get": 404,
    "create": 422,
    "update": 404,
    "action": 404,
    "delete": 404,
}


def probe_path(endpoint: Endpoint) -> str:
    return re.sub(r"\{\w+\}", MISSING_ID, endpoint.path)


def send_probe(client, endpoint: Endpoint, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return client.request(endpoint.method, probe_path(endpoint), headers=headers)


def test_every_endpoint_scope_is_a_known_scope():
    used = {scope for endpoint in ENDPOINTS for scope in endpoint.scopes}
    assert used <= KNOWN_SCOPES


def test_the_table_covers_the_scopes_rotator_relies_on():
    for scope in (
        "account:read",
        "spaces_key:read",
        "spaces_key:create_credentials",
        "spaces_key:update",
        "spaces_key:delete",
        "app:read",
        "app:update",
    ):
        assert scopes.endpoints_for_scope(scope), scope


def test_every_probe_is_answered_by_scope_alone_and_changes_nothing(sandbox, client_for):
    probes = [e for e in ENDPOINTS if e.scopes]
    # One token per probe keeps every token far from its rate limit.
    holders = {e: sandbox.add_token([e.scopes[0]]) for e in probes}
    strangers = {e: sandbox.add_token([]) for e in probes}
    client = client_for()
    before = sandbox.snapshot()
    for endpoint in probes:
        held = send_probe(client, endpoint, holders[endpoint])
        expected = EXPECTED_WITH_SCOPE[endpoint.action]
        assert held.status_code == expected, (endpoint, held.text)
        assert_error(send_probe(client, endpoint, strangers[endpoint]), 403, "forbidden")
    assert sandbox.snapshot() == before


def test_a_missing_scope_is_forbidden_before_the_body_is_validated(client_for):
    client = client_for(["spaces_key:read"])
    assert_error(client.post("/v2/spaces/keys"), 403, "forbidden")
    assert_error(client.post("/v2/spaces/keys", content=b"{not json"), 403, "forbidden")
    assert_error(client.post("/v2/spaces/keys", json={"name": ""}), 403, "forbidden")


def test_a_missing_scope_is_forbidden_before_the_id_is_looked_up(client_for):
    client = client_for(["app:read", "spaces_key:read"])
    assert_error(client.put(f"/v2/apps/{MISSING_ID}", json={}), 403, "forbidden")
    assert_error(client.delete(f"/v2/spaces/keys/{MISSING_ID}"), 403, "forbidden")
    assert_error(client.patch(f"/v2/spaces/keys/{MISSING_ID}", json={}), 403, "forbidden")


def test_the_forbidden_answer_is_digitaloceans(client_for):
    response = client_for(["account:read"]).get("/v2/droplets")
    assert_error(response, 403, "forbidden")
    assert response.json()["message"] == "You are not authorized to perform this operation"


def test_holding_the_scope_reaches_validation_instead(client_for):
    client = client_for(["spaces_key:create_credentials"])
    assert_error(client.post("/v2/spaces/keys"), 422, "unprocessable_entity")
    assert_error(client.post("/v2/spaces/keys", content=b"{not json"), 400, "bad_request")


def test_api_read_opens_every_read_and_no_write(sandbox, client_for):
    client = client_for(["api:read"])
    for endpoint in ENDPOINTS:
        response = send_probe(client, endpoint)
        if not endpoint.scopes or set(endpoint.scopes) & READ_SCOPES:
            assert response.status_code != 403, endpoint
        else:
            assert response.status_code == 403, endpoint


def test_api_write_is_full_access(sandbox, client_for):
    client = client_for(["api:write"])
    before = sandbox.snapshot()
    for endpoint in ENDPOINTS:
        assert send_probe(client, endpoint).status_code != 403, endpoint
    assert sandbox.snapshot() == before


def test_an_endpoint_that_lists_several_scopes_accepts_any_of_them(client_for):
    assert client_for(["regions:read"]).get("/v2/sizes").status_code == 200
    assert client_for(["sizes:read"]).get("/v2/sizes").status_code == 200


def test_aliases_expand_to_what_they_stand_for():
    assert scopes.expand_scopes(["api:write"]) >= KNOWN_SCOPES
    read_only = scopes.expand_scopes(["api:read"])
    assert read_only >= READ_SCOPES
    assert not any(s.endswith((":create", ":update", ":delete")) for s in read_only)


def test_scope_lookup_prefers_literal_paths():
    endpoint, params, _ = scopes.find_endpoint("POST", "/v2/apps/propose")
    assert endpoint is not None
    assert endpoint.operation == "apps_validate_appSpec"
    assert params == {}


@pytest.mark.parametrize("path", ["/v2/nothing-here", "/v2/droplets/1/nonsense", "/"])
def test_an_unknown_path_is_not_found(client_for, path):
    assert_error(client_for(["api:write"]).get(path), 404, "not_found")


def test_a_known_path_with_an_unknown_method_names_the_allowed_ones(client_for):
    response = client_for(["api:write"]).patch("/v2/droplets/1", json={})
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "DELETE, GET"


def test_probing_an_empty_account_changes_nothing(sandbox, client_for):
    client = client_for(token=sandbox.add_token(["api:write"], account="d" * 40))
    before = sandbox.snapshot()
    for endpoint in ENDPOINTS:
        response = send_probe(client, endpoint)
        assert response.status_code in (200, 404, 405, 422), (endpoint, response.text)
    assert sandbox.snapshot() == before
