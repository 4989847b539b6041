"""App Platform: sealed secrets, whole-spec updates and deployments that take time."""

from __future__ import annotations

import time

import pytest

from rotator.sandbox import Sandbox
from rotator.sandbox.seed import DEMO_COMPONENT
from tests.sandbox.helpers import assert_error
from tests.support.clock import FakeClock

APP_SCOPES = ["app:read", "app:update"]


@pytest.fixture
def app_id(sandbox: Sandbox) -> str:
    return sandbox.app_ids()[0]


@pytest.fixture
def apps(client_for):
    return client_for(APP_SCOPES)


def component(spec, name=DEMO_COMPONENT):
    return next(c for c in spec["services"] if c["name"] == name)


def env(envs, key):
    return next(e for e in envs if e["key"] == key)


def wait_for(client, app_id, deployment_id, phases=("ACTIVE", "ERROR", "CANCELED")):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        deployment = client.get(f"/v2/apps/{app_id}/deployments/{deployment_id}").json()
        if deployment["deployment"]["phase"] in phases:
            return deployment["deployment"]
        time.sleep(0.02)
    raise AssertionError(f"deployment {deployment_id} never reached {phases}")


def put_spec(client, app_id, spec):
    response = client.put(f"/v2/apps/{app_id}", json={"spec": spec})
    assert response.status_code == 200, response.text
    return response.json()["app"]


def test_the_demo_app_has_app_level_and_component_variables_with_a_secret(app_id, apps):
    spec = apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    assert {e["key"] for e in spec["envs"]} >= {"LOG_LEVEL", "SESSION_SECRET"}
    web = component(spec)
    assert {e["key"] for e in web["envs"]} >= {"SPACES_KEY", "SPACES_SECRET"}
    assert env(web["envs"], "SPACES_SECRET")["type"] == "SECRET"


def test_secrets_come_back_sealed_and_never_in_plaintext(sandbox, app_id, apps):
    plaintext = sandbox.app_running_env(app_id, DEMO_COMPONENT)["SPACES_SECRET"]
    response = apps.get(f"/v2/apps/{app_id}")
    assert plaintext not in response.text
    sealed = env(component(response.json()["app"]["spec"])["envs"], "SPACES_SECRET")["value"]
    assert sealed.startswith("EV[1:")
    assert sealed.endswith("]")
    again = apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    assert env(component(again)["envs"], "SPACES_SECRET")["value"] == sealed


def test_sending_the_spec_back_unchanged_keeps_every_secret(sandbox, app_id, apps):
    before = sandbox.app_running_env(app_id, DEMO_COMPONENT)
    spec = apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    deployment = put_spec(apps, app_id, spec)["pending_deployment"]
    assert wait_for(apps, app_id, deployment["id"])["phase"] == "ACTIVE"
    assert sandbox.app_running_env(app_id, DEMO_COMPONENT) == before
    assert apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"] == spec


def test_a_plaintext_value_replaces_a_secret(sandbox, app_id, apps):
    spec = apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    env(component(spec)["envs"], "SPACES_SECRET")["value"] = "brand-new-secret"
    deployment = put_spec(apps, app_id, spec)["pending_deployment"]
    wait_for(apps, app_id, deployment["id"])
    assert sandbox.app_running_env(app_id, DEMO_COMPONENT)["SPACES_SECRET"] == "brand-new-secret"
    shown = env(
        component(apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"])["envs"], "SPACES_SECRET"
    )
    assert shown["value"].startswith("EV[")


def test_a_variable_left_out_is_deleted(sandbox, app_id, apps):
    spec = apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    spec["envs"] = [e for e in spec["envs"] if e["key"] != "SESSION_SECRET"]
    wait_for(apps, app_id, put_spec(apps, app_id, spec)["pending_deployment"]["id"])
    assert "SESSION_SECRET" not in sandbox.app_running_env(app_id)
    assert "SESSION_SECRET" not in sandbox.app(app_id)["spec"]["envs"].__repr__()


def test_an_encrypted_value_the_sandbox_never_issued_is_refused(sandbox, app_id, apps):
    spec = apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    env(component(spec)["envs"], "SPACES_SECRET")["value"] = "EV[1:AAAA:BBBB]"
    before = sandbox.app(app_id)
    assert_error(apps.put(f"/v2/apps/{app_id}", json={"spec": spec}), 422, "unprocessable_entity")
    assert sandbox.app(app_id)["deployments"] == before["deployments"]


def test_an_encrypted_value_from_another_app_is_refused(sandbox, app_id, apps):
    other_id = sandbox.add_app(
        {"name": "other-app", "envs": [{"key": "TOKEN", "value": "other-secret", "type": "SECRET"}]}
    )
    foreign = env(apps.get(f"/v2/apps/{other_id}").json()["app"]["spec"]["envs"], "TOKEN")
    spec = apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    spec["envs"].append({"key": "STOLEN", "value": foreign["value"], "type": "SECRET"})
    assert_error(apps.put(f"/v2/apps/{app_id}", json={"spec": spec}), 422, "unprocessable_entity")


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"spec": "web"},
        {"spec": {"name": "a"}},
        {"spec": {"name": "Bad_Name"}},
        {"spec": {"name": "ok-app", "envs": [{"key": "1BAD", "value": "x"}]}},
        {"spec": {"name": "ok-app", "envs": [{"key": "A", "type": "secret"}]}},
        {"spec": {"name": "ok-app", "envs": [{"key": "A"}, {"key": "A"}]}},
        {"spec": {"name": "ok-app", "services": [{"name": "web"}, {"name": "web"}]}},
    ],
)
def test_an_invalid_update_is_unprocessable_and_starts_no_deployment(sandbox, app_id, apps, body):
    before = len(sandbox.app(app_id)["deployments"])
    response = (
        apps.put(f"/v2/apps/{app_id}", json=body)
        if body is not None
        else apps.put(f"/v2/apps/{app_id}")
    )
    assert_error(response, 422, "unprocessable_entity")
    assert len(sandbox.app(app_id)["deployments"]) == before


def test_unparseable_json_is_a_bad_request(app_id, apps):
    assert_error(apps.put(f"/v2/apps/{app_id}", content=b"{"), 400, "bad_request")


def test_an_update_walks_the_deployment_through_its_phases(fake_clock: FakeClock, client_for):
    with Sandbox(clock=fake_clock.seconds, deployment_step_seconds=10) as box:
        client = client_for(APP_SCOPES, target=box)
        app_id = box.app_ids()[0]
        spec = client.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
        answer = put_spec(client, app_id, spec)
        deployment_id = answer["pending_deployment"]["id"]
        seen = []
        for _ in range(4):
            app = client.get(f"/v2/apps/{app_id}").json()["app"]
            phase = client.get(f"/v2/apps/{app_id}/deployments/{deployment_id}").json()[
                "deployment"
            ]["phase"]
            seen.append((phase, "pending_deployment" in app, "in_progress_deployment" in app))
            fake_clock.advance(10)
        assert seen == [
            ("PENDING_BUILD", True, False),
            ("BUILDING", False, True),
            ("DEPLOYING", False, True),
            ("ACTIVE", False, False),
        ]
        app = client.get(f"/v2/apps/{app_id}").json()["app"]
        assert app["active_deployment"]["id"] == deployment_id


def test_the_running_env_changes_only_when_the_deployment_is_active(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds, deployment_step_seconds=10) as box:
        client = client_for(APP_SCOPES, target=box)
        app_id = box.app_ids()[0]
        spec = client.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
        env(spec["envs"], "LOG_LEVEL")["value"] = "debug"
        put_spec(client, app_id, spec)
        fake_clock.advance(25)
        assert box.app_running_env(app_id)["LOG_LEVEL"] == "info"
        fake_clock.advance(5)
        assert box.app_running_env(app_id)["LOG_LEVEL"] == "debug"


def test_the_previous_active_deployment_is_superseded(sandbox, app_id, apps):
    first = apps.get(f"/v2/apps/{app_id}").json()["app"]["active_deployment"]["id"]
    spec = apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    wait_for(apps, app_id, put_spec(apps, app_id, spec)["pending_deployment"]["id"])
    old = apps.get(f"/v2/apps/{app_id}/deployments/{first}").json()["deployment"]
    assert old["phase"] == "SUPERSEDED"


@pytest.mark.parametrize("phase", ["ERROR", "CANCELED"])
def test_a_failed_deployment_leaves_the_running_env_unchanged(sandbox, app_id, apps, phase):
    before = sandbox.app_running_env(app_id, DEMO_COMPONENT)
    active = apps.get(f"/v2/apps/{app_id}").json()["app"]["active_deployment"]["id"]
    sandbox.fail_next_deployment(app_id, phase)
    spec = apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    env(component(spec)["envs"], "SPACES_SECRET")["value"] = "never-deployed"
    failed = wait_for(apps, app_id, put_spec(apps, app_id, spec)["pending_deployment"]["id"])
    assert failed["phase"] == phase
    assert sandbox.app_running_env(app_id, DEMO_COMPONENT) == before
    app = apps.get(f"/v2/apps/{app_id}").json()["app"]
    assert app["active_deployment"]["id"] == active
    # The failure was one-off: the next deployment succeeds.
    assert (
        wait_for(apps, app_id, put_spec(apps, app_id, spec)["pending_deployment"]["id"])["phase"]
        == "ACTIVE"
    )


def test_an_update_during_a_deployment_supersedes_the_running_one(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds, deployment_step_seconds=10) as box:
        client = client_for(APP_SCOPES, target=box)
        app_id = box.app_ids()[0]
        spec = client.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
        first = put_spec(client, app_id, spec)["pending_deployment"]["id"]
        fake_clock.advance(12)
        second = put_spec(client, app_id, spec)["pending_deployment"]["id"]
        fake_clock.advance(30)
        phases = {
            d["id"]: d["phase"]
            for d in client.get(f"/v2/apps/{app_id}/deployments").json()["deployments"]
        }
        assert phases[first] == "SUPERSEDED"
        assert phases[second] == "ACTIVE"


def test_a_deployment_can_be_started_and_canceled(sandbox, client_for):
    with Sandbox(deployment_step_seconds=30, seed=True) as box:
        client = client_for(APP_SCOPES, target=box)
        app_id = box.app_ids()[0]
        assert_error(client.post(f"/v2/apps/{app_id}/deployments"), 422, "unprocessable_entity")
        started = client.post(f"/v2/apps/{app_id}/deployments", json={"force_build": True})
        assert started.status_code == 200
        deployment_id = started.json()["deployment"]["id"]
        canceled = client.post(f"/v2/apps/{app_id}/deployments/{deployment_id}/cancel")
        assert canceled.json()["deployment"]["phase"] == "CANCELED"


def test_deployments_are_listed_newest_first(sandbox, app_id, apps):
    spec = apps.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    newest = put_spec(apps, app_id, spec)["pending_deployment"]["id"]
    listed = apps.get(f"/v2/apps/{app_id}/deployments").json()
    assert listed["deployments"][0]["id"] == newest
    assert listed["meta"]["total"] == 2


def test_an_unknown_app_or_deployment_is_not_found(app_id, apps):
    assert_error(apps.get("/v2/apps/00000000-0000-0000-0000-000000000000"), 404, "not_found")
    assert_error(apps.get(f"/v2/apps/{app_id}/deployments/nope"), 404, "not_found")


def test_propose_validates_a_spec_without_creating_anything(sandbox, app_id, client_for):
    client = client_for(["app:read"])
    spec = client.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    before = sandbox.snapshot()
    proposed = client.post("/v2/apps/propose", json={"spec": spec, "app_id": app_id})
    assert proposed.status_code == 200
    assert proposed.json()["app_name_available"] is True
    fresh = client.post("/v2/apps/propose", json={"spec": {"name": spec["name"]}})
    assert fresh.json()["app_name_available"] is False
    # Sealed values belong to their app: proposed without it, they are unknown.
    assert_error(client.post("/v2/apps/propose", json={"spec": spec}), 422, "unprocessable_entity")
    assert_error(
        client.post("/v2/apps/propose", json={"spec": {"name": "x"}}), 422, "unprocessable_entity"
    )
    assert sandbox.snapshot() == before


def test_the_app_truth_holds_plaintext_secrets_for_tests(sandbox, app_id):
    truth = sandbox.app(app_id)
    secret = env(component(truth["spec"])["envs"], "SPACES_SECRET")["value"]
    assert not secret.startswith("EV[")
    assert secret == sandbox.spaces_keys()[0]["secret_key"]


def test_deployment_progress_follows_the_phase(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds, deployment_step_seconds=10) as box:
        client = client_for(APP_SCOPES, target=box)
        app_id = box.app_ids()[0]
        spec = client.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
        deployment_id = put_spec(client, app_id, spec)["pending_deployment"]["id"]
        path = f"/v2/apps/{app_id}/deployments/{deployment_id}"
        fake_clock.advance(10)
        building = client.get(path).json()["deployment"]["progress"]
        assert [s["status"] for s in building["steps"]] == ["RUNNING", "PENDING", "PENDING"]
        assert building["running_steps"] == 1
        fake_clock.advance(20)
        done = client.get(path).json()["deployment"]["progress"]
        assert done["success_steps"] == done["total_steps"] == 3
