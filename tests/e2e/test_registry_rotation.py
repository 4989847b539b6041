"""Registry credentials: proven by a registry login before any push, revoked after grace.

New credentials must log in to the registry (the sandbox models its
challenge and token realm) before a sink gets them. Their password is an
OAuth token of its own; nothing in the API deletes it, so rotator revokes it
as doctl's ``registry logout`` does (``POST /v1/oauth/revoke``,
authenticated by that token). Credentials made by hand before the first
rotation were never held by rotator: they end by their expiry.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.kinds_support import KIND_CASES
from tests.support.cli import rotate_killed_after

REGISTRY = "demo-registry"
REVOKE = "/v1/oauth/revoke"
REALM = "/v2/registry/auth"


@pytest.fixture
def registry(initialised, sandbox):
    case = KIND_CASES["registry_credentials"](sandbox)
    app_id = case.seed_app(sandbox, sandbox.app_ids()[0])
    initialised.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "5s"\n' + case.policy(app_id)
    )
    assert initialised.add("prod", sandbox.add_token(case.scopes)).code == 0
    initialised.case = case
    initialised.app_id = app_id
    return initialised


def rotate(run) -> dict[str, Any]:
    result = run("rotate", "media", "--json")
    assert result.code == 0, result.output
    return json.loads(result.stdout)


def minted(run, sandbox) -> dict[str, Any]:
    """Rotate once and return the server's record of the credentials it minted."""
    identifier = rotate(run)["new_access_key"]
    return run.case.alive()[identifier]


def opens(sandbox, record: dict[str, Any]) -> bool:
    return sandbox.registry_login_works(REGISTRY, record["username"], record["password"])


def revokes(sandbox) -> list[int]:
    return [r["status"] for r in sandbox.requests() if r["path"] == REVOKE]


def logins(sandbox) -> list[int]:
    return [r["status"] for r in sandbox.requests() if r["path"] == REALM]


def test_minted_credentials_are_revoked_after_their_grace_and_hand_made_ones_left_to_expire(
    registry, sandbox
):
    registry.env["ROTATOR_LOG_LEVEL"] = "DEBUG"
    case = registry.case
    first = minted(registry, sandbox)
    time.sleep(1.2)  # past the 1 s grace period
    second = minted(registry, sandbox)
    # The hand-made original was the previous one: never held, so never revoked.
    assert revokes(sandbox) == []
    assert case.original in case.alive()
    assert opens(sandbox, first)  # the previous credentials live through their grace period
    time.sleep(1.2)
    third = minted(registry, sandbox)
    assert revokes(sandbox) == [200]
    assert logins(sandbox) == [200, 200, 200]  # each new set proven before its push
    assert not opens(sandbox, first)
    assert opens(sandbox, second) and opens(sandbox, third)
    assert case.original in case.alive()
    status = json.loads(registry("status", "--json").stdout)["policies"][0]
    assert status["previous_access_key"] == second["id"]
    assert status["revoke_error"] is None
    history = json.loads(registry("history", "--json").stdout)
    assert first["id"] in json.dumps(history)
    shown = "\n".join(result.output for result in registry.transcript)
    request_log = json.dumps(sandbox.requests(), default=str)
    files = b"".join(p.read_bytes() for p in registry.state_dir.rglob("*") if p.is_file())
    for record in (first, second, third):
        assert record["password"] not in shown
        assert record["password"] not in request_log
        assert record["password"].encode() not in files


def test_a_rotation_killed_right_after_the_revoke_resumes_and_finds_it_already_revoked(
    registry, sandbox
):
    first = minted(registry, sandbox)
    time.sleep(1.2)
    minted(registry, sandbox)
    time.sleep(1.2)
    rotate_killed_after(registry, sandbox, "POST", f"^{REVOKE}$")
    assert not opens(sandbox, first)  # revoked; the store had not said so yet
    resumed = rotate(registry)
    assert resumed["status"] == "succeeded"
    # The second revoke is refused (the token no longer authenticates): already gone.
    assert revokes(sandbox) == [200, 401]
    status = json.loads(registry("status", "--json").stdout)["policies"][0]
    assert status["revoke_error"] is None
    assert status["previous_access_key"] != first["id"]


def test_a_failed_revoke_does_not_hold_up_the_next_rotation_and_is_recorded(registry, sandbox):
    # Registry credentials end by their expiry: holding up the rotation would let the
    # current ones expire with no successor, so the one that cannot be revoked expires too.
    first = minted(registry, sandbox)
    time.sleep(1.2)
    second = minted(registry, sandbox)
    time.sleep(1.2)
    sandbox.add_fault(method="POST", path=f"^{REVOKE}$", status=503, times=10)
    try:
        third = rotate(registry)
    finally:
        sandbox.clear_faults()
    assert third["status"] == "succeeded"
    assert opens(sandbox, first)  # not revoked: left to expire
    assert revokes(sandbox) == [503, 503]  # one retry (retries = 1), then given up
    status = json.loads(registry("status", "--json").stdout)["policies"][0]
    assert status["current_access_key"] == third["new_access_key"]
    assert status["previous_access_key"] == second["id"]
    history = json.loads(registry("history", "--json").stdout)
    failed = [e for e in history if e["event"] == "key_revoke_failed"]
    assert len(failed) == 1 and first["id"] in json.dumps(failed)
    assert "left to expire" in "".join(r.output for r in registry.transcript)


def test_abandoning_a_rotation_revokes_the_credentials_it_minted(registry, sandbox):
    app_id = registry.case.seed_app(sandbox, sandbox.app_ids()[0])
    registry.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "5s"\n' + registry.case.policy(app_id)
    )
    sandbox.fail_next_deployment(app_id, "ERROR")
    failed = registry("rotate", "media", "--json")
    assert failed.code != 0, failed.output
    stuck = json.loads(failed.stdout)["new_access_key"]
    record = registry.case.alive()[stuck]
    assert opens(sandbox, record)
    done = registry("rotate", "media", "--abandon", "--yes", "--reason", "test")
    assert done.code == 0, done.output
    assert not opens(sandbox, record)
    assert revokes(sandbox) == [200]
