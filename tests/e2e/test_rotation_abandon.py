"""`rotator rotate POLICY --abandon`: give up a rotation that cannot finish, never break a sink."""

from __future__ import annotations

import copy
import json

import httpx

from tests.support.cli import ROTATION_SCOPES, assert_one_line_error, media_policy

SETTINGS = '[digitalocean]\nretries = 1\ntimeout = "2s"\n'


def delete_app(sandbox, app_id: str) -> None:
    token = sandbox.add_token(["app:delete"])
    response = httpx.delete(
        f"{sandbox.url}/v2/apps/{app_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text


def second_sink(app_id: str) -> str:
    return f"""
[[policies.sinks]]
type = "app_platform"
app_id = "{app_id}"
component = "web"
access_key_env = "SPACES_KEY"
secret_key_env = "SPACES_SECRET"
"""


def live(sandbox) -> set[str]:
    return {key["access_key"] for key in sandbox.spaces_keys()}


def test_a_rotation_whose_app_was_deleted_is_abandoned_and_no_longer_blocks_its_policy(
    initialised, sandbox, receiver
):
    app_id = sandbox.app_ids()[0]
    initialised.config.write_text(
        SETTINGS
        + f'[[alerts]]\ntype = "webhook"\nurl = "{receiver.url}/hook"\nsecret = "whsec-abandon"\n'
        + media_policy(app_id)
    )
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    old_key = next(k["access_key"] for k in sandbox.spaces_keys() if k["name"] == "demo-media")
    delete_app(sandbox, app_id)
    failed = initialised("rotate", "media", "--json")
    assert failed.code == 1, failed.output
    stuck = json.loads(failed.stdout)
    assert stuck["new_access_key"] in live(sandbox)

    asked = initialised("rotate", "media", "--abandon")  # not a terminal, no --yes
    assert_one_line_error(asked, 2, "--yes")
    assert stuck["new_access_key"] in live(sandbox)

    done = initialised("rotate", "media", "--abandon", "--yes", "--reason", "app deleted")
    assert done.code == 0, done.output
    assert f"rotation {stuck['rotation_id']} abandoned" in done.stdout
    assert stuck["new_access_key"] not in live(sandbox)
    assert old_key in live(sandbox)

    status = json.loads(initialised("status", "--json").stdout)
    (policy,) = status["policies"]
    assert policy["in_flight"] is None
    assert policy["current_access_key"] == old_key
    history = json.loads(initialised("history", "--json", "--subject", "media").stdout)
    abandoned = [e for e in history if e["event"] == "rotation_abandoned"]
    assert [e["detail"]["reason"] for e in abandoned] == ["app deleted"]
    events = [(r.json()["event"], r.json()["resolved"]) for r in receiver.requests]
    assert ("rotation_abandoned", False) in events
    assert ("rotation_failed", True) in events  # the stuck rotation's alert is resolved
    assert events.count(("rotation_abandoned", False)) == 1

    again = initialised("rotate", "media", "--json")  # a new rotation, not a resume
    assert json.loads(again.stdout)["rotation_id"] != stuck["rotation_id"]
    assert json.loads(again.stdout)["status"] == "failed"


def test_a_rotation_a_sink_confirmed_is_not_abandoned_and_nothing_changes(initialised, sandbox):
    app_id = sandbox.app_ids()[0]
    spec = copy.deepcopy(sandbox.app(app_id)["spec"])
    spec["name"] = "media-two"
    doomed = sandbox.add_app(spec)
    initialised.config.write_text(SETTINGS + media_policy(app_id, more_sinks=second_sink(doomed)))
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    delete_app(sandbox, doomed)
    failed = initialised("rotate", "media", "--json")
    assert failed.code == 1, failed.output
    stuck = json.loads(failed.stdout)
    assert [s["status"] for s in stuck["sinks"]] == ["confirmed", "failed"]
    before = initialised.dump()

    refused = initialised("rotate", "media", "--abandon", "--yes")
    assert_one_line_error(refused, 1, "already confirmed the new key", "rotator rotate media")
    assert initialised.dump() == before
    assert stuck["new_access_key"] in live(sandbox)
    assert sandbox.app_running_env(app_id, "web")["SPACES_KEY"] == stuck["new_access_key"]


def test_abandon_without_a_rotation_in_flight_is_a_usage_error(initialised, sandbox):
    initialised.config.write_text(SETTINGS + media_policy(sandbox.app_ids()[0]))
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    before = initialised.dump()
    result = initialised("rotate", "media", "--abandon", "--yes")
    assert_one_line_error(result, 2, "no rotation in flight")
    assert initialised.dump() == before
    mixed = initialised("rotate", "media", "--abandon", "--dry-run", "--yes")
    assert_one_line_error(mixed, 2, "--dry-run")
    stray = initialised("rotate", "media", "--yes")
    assert_one_line_error(stray, 2, "--abandon")
