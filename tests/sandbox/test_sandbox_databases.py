"""The sandbox's managed PostgreSQL: spec-valid answers, passwords only to those who may see
them, and a real server behind every user call.

One session (needs PostgreSQL's server binaries; skips without them) calls
every database operation of the reduced spec, successes and errors, with a
token that may view credentials and one that may not; each answer is then
validated with openapi-core, and what the API said is checked against the
server itself (a login with the password it answered).
"""

from __future__ import annotations

import httpx
import pytest

from rotator.sandbox import Sandbox
from tests.contract import Exchange, Recorder, in_spec, openapi_request, openapi_response
from tests.sandbox.test_sandbox_contract import DATABASE_OPERATIONS, describe, operation

MISSING = "00000000-0000-0000-0000-000000000000"
USER_SCOPES = ["database:read", "database:create", "database:update", "database:delete"]


@pytest.fixture(scope="module")
def world(openapi_spec):
    reason = Sandbox.databases_unavailable()
    if reason:
        pytest.skip(reason)
    recorder = Recorder()
    hooks = {"response": [recorder.hook]}
    with Sandbox() as box:
        cluster = box.add_database_cluster("contract-pg")
        seeing = box.add_token([*USER_SCOPES, "database:view_credentials"])
        blind = box.add_token(USER_SCOPES)
        passwords: dict[str, str] = {}
        with httpx.Client(
            base_url=box.url,
            headers={"Authorization": f"Bearer {seeing}"},
            event_hooks=hooks,
            timeout=30,
        ) as client:
            users = f"/v2/databases/{cluster}/users"
            client.get(f"/v2/databases/{cluster}")
            passwords["app"] = client.post(users, json={"name": "app"}).json()["user"]["password"]
            client.post(users, json={"name": "app"})  # 422: exists
            client.get(users)
            client.get(f"{users}/app")
            reset = client.post(f"{users}/app/reset_auth", json={}).json()
            passwords["app-reset"] = reset["user"]["password"]
            client.post(users, json={"name": "gone"})
            client.delete(f"{users}/gone")
            client.delete(f"{users}/gone")  # 404
            client.get(f"{users}/gone")  # 404
            client.get(f"/v2/databases/{MISSING}")  # 404
            client.get(f"/v2/databases/{MISSING}/users")  # 404
            with recorder.deliberately_invalid():
                client.post(users, json={})  # 422: no name
        with httpx.Client(
            base_url=box.url,
            headers={"Authorization": f"Bearer {blind}"},
            event_hooks=hooks,
            timeout=30,
        ) as client:
            client.get(f"/v2/databases/{cluster}")
            client.get(f"/v2/databases/{cluster}/users")
            blind_made = client.post(f"/v2/databases/{cluster}/users", json={"name": "blind"})
        logins = {
            "app": box.database_login_works(cluster, "app", passwords["app"]),
            "app-reset": box.database_login_works(cluster, "app", passwords["app-reset"]),
            "gone": box.database_login_works(cluster, "gone", "whatever-it-was"),
        }
        truth = {u["name"] for u in box.database_users(cluster)}
        yield {
            "exchanges": recorder.exchanges,
            "logins": logins,
            "truth": truth,
            "blind_made": blind_made,
            "seeing": seeing,
        }


def test_every_database_operation_was_answered(world):
    answered = {operation(e) for e in world["exchanges"] if e.response.is_success}
    assert answered >= DATABASE_OPERATIONS
    statuses = {e.response.status_code for e in world["exchanges"]}
    assert {200, 201, 204, 404, 422} <= statuses


def test_every_database_answer_matches_the_spec(openapi_spec, world):
    checked = 0
    for exchange in world["exchanges"]:
        assert in_spec(openapi_spec, exchange), exchange.label
        errors = list(
            openapi_spec.iter_response_errors(
                openapi_request(exchange.request), openapi_response(exchange.response)
            )
        )
        assert not errors, f"{exchange.label}: {describe(errors)}"
        checked += 1
    assert checked >= 15


def test_every_database_request_meant_to_be_valid_matches_the_spec(openapi_spec, world):
    valid = [e for e in world["exchanges"] if e.request_is_valid]
    for exchange in valid:
        errors = list(openapi_spec.iter_request_errors(openapi_request(exchange.request)))
        assert not errors, f"{exchange.label}: {describe(errors)}"
    invalid = [e for e in world["exchanges"] if not e.request_is_valid]
    assert all(list(openapi_spec.iter_request_errors(openapi_request(e.request))) for e in invalid)


def test_what_the_api_answered_is_what_the_server_does(world):
    # The password the create answered logged in until the reset; the reset's does now.
    assert world["logins"] == {"app": False, "app-reset": True, "gone": False}
    assert world["truth"] >= {"app", "blind"} and "gone" not in world["truth"]


def passwords_shown(exchange: Exchange) -> bool:
    body = exchange.response.json() if exchange.response.content else {}
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            found.extend(key for key in node if key == "password")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(body)
    return bool(found)


def test_passwords_are_shown_only_to_a_token_that_may_view_credentials(world):
    seeing = world["seeing"]
    shown = {
        passwords_shown(e)
        for e in world["exchanges"]
        if e.response.is_success
        and e.response.status_code != 204
        and e.request.headers["authorization"] == f"Bearer {seeing}"
    }
    hidden = {
        passwords_shown(e)
        for e in world["exchanges"]
        if e.response.is_success and e.request.headers["authorization"] != f"Bearer {seeing}"
    }
    assert shown == {True}
    assert hidden == {False}
    assert world["blind_made"].status_code == 201  # made, but its password never shown
