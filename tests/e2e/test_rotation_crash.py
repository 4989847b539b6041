"""Kill `rotator rotate` with SIGKILL right after each mutating request, resume, check invariants.

The sandbox's fault injection sends SIGKILL to the rotate process the moment
its response to the chosen request has been written, so the request took
effect but rotator never heard back. A second `rotate` must then finish the
job, and afterwards:

- every sink holds a key that exists;
- no key rotator created is left unrecorded;
- at most the current and previous keys exist for the policy;
- the secret in every sink opens the key the store says is current.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.support.cli import ROTATION_SCOPES, media_policy, rotate_killed_after


@pytest.fixture
def media(initialised, sandbox):
    """A policy rotating the sandbox's seeded demo key into its demo app's web service."""
    app_id = sandbox.app_ids()[0]
    initialised.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "5s"\n' + media_policy(app_id, grace="1s")
    )
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    initialised.app_id = app_id
    initialised.original = next(k for k in sandbox.spaces_keys() if k["name"] == "demo-media")
    return initialised


def policy_keys_alive(sandbox) -> dict[str, dict]:
    return {
        key["access_key"]: key
        for key in sandbox.spaces_keys()
        if key["name"] == "demo-media" or key["name"].startswith("rotator-media-")
    }


def assert_invariants(rotator, sandbox) -> None:
    alive = policy_keys_alive(sandbox)
    status = json.loads(rotator("status", "--json").stdout)
    policy = status["policies"][0]
    recorded = {policy["current_access_key"], policy["previous_access_key"]}
    planned_name = None
    if policy["in_flight"]:
        recorded.add(policy["in_flight"]["new_access_key"])
        # Killed between the create and its record: the key is findable by its planned name.
        planned_name = policy["in_flight"]["new_key_name"]
    recorded.discard(None)
    env = sandbox.app_running_env(rotator.app_id, "web")
    # Every sink holds a key that exists, and its secret opens that key.
    assert env["SPACES_KEY"] in alive
    assert env["SPACES_SECRET"] == alive[env["SPACES_KEY"]]["secret_key"]
    # No key rotator created is left unrecorded.
    created = {
        k
        for k, v in alive.items()
        if v["name"].startswith("rotator-media-") and v["name"] != planned_name
    }
    assert created <= recorded
    # At most the current and previous keys exist for the policy.
    assert len(alive) <= 2
    # The sink serves the key the store says is current.
    if not policy["in_flight"]:
        assert env["SPACES_KEY"] == policy["current_access_key"]


def resume(rotator) -> dict:
    result = rotator("rotate", "media", "--json")
    assert result.code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/spaces/keys"),
        ("PUT", "/v2/apps/[^/]+"),
    ],
)
def test_a_rotation_killed_after_a_mutating_request_resumes_and_keeps_every_invariant(
    media, sandbox, method, path
):
    rotate_killed_after(media, sandbox, method, path)
    assert_invariants(media, sandbox)
    finished = resume(media)
    assert finished["status"] == "resumed"
    assert_invariants(media, sandbox)
    assert sandbox.app_running_env(media.app_id, "web")["SPACES_KEY"] == finished["new_access_key"]


def test_a_rotation_killed_after_revoking_the_previous_key_resumes(media, sandbox):
    first = resume(media)
    assert first["status"] == "succeeded"
    time.sleep(1.2)  # past the 1 s grace period
    rotate_killed_after(media, sandbox, "DELETE", "/v2/spaces/keys/[^/]+")
    assert media.original["access_key"] not in policy_keys_alive(sandbox)
    assert_invariants(media, sandbox)
    second = resume(media)
    assert second["status"] == "succeeded"
    assert second["old_access_key"] == first["new_access_key"]
    assert_invariants(media, sandbox)


def test_a_failed_deployment_keeps_the_old_key_serving_and_a_rerun_completes(media, sandbox):
    before = sandbox.app_running_env(media.app_id, "web")
    sandbox.fail_next_deployment(media.app_id, "ERROR")
    failed = media("rotate", "media", "--json")
    assert failed.code == 1
    document = json.loads(failed.stdout)
    assert document["status"] == "failed"
    assert document["sinks"][0]["status"] == "failed"
    assert sandbox.app_running_env(media.app_id, "web") == before
    assert media.original["access_key"] in policy_keys_alive(sandbox)
    assert_invariants(media, sandbox)
    finished = resume(media)
    assert finished["status"] == "resumed"
    assert finished["new_access_key"] == document["new_access_key"]
    assert_invariants(media, sandbox)


def test_a_concurrent_rotation_of_the_same_policy_is_refused(media, sandbox):
    process = subprocess.Popen(
        [sys.executable, "-m", "rotator", "rotate", "media"],
        env=media.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sandbox.add_fault(method="PUT", path="/v2/apps/[^/]+", delay=3.0, times=1)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            status = json.loads(media("status", "--json").stdout)
            if status["policies"][0]["in_flight"]:
                break
        second = media("rotate", "media")
        assert second.code == 1
        assert "policy 'media' is in use by another process" in second.stderr
    finally:
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert_invariants(media, sandbox)


def test_a_dry_run_changes_nothing_in_digitalocean_or_the_store(media, sandbox):
    before_sandbox = sandbox.snapshot()
    before_store = media.dump()
    result = media("rotate", "media", "--dry-run", "--json")
    assert result.code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "dry_run"
    assert document["steps"]
    assert sandbox.snapshot() == before_sandbox
    assert media.dump() == before_store
