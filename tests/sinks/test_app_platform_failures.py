"""The App Platform sink when deployments fail, are overtaken, or answers go missing."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from rotator.digitalocean.retry import RetryPolicy
from rotator.errors import SinkError
from rotator.sandbox import Sandbox
from tests.sinks.app_platform_support import (
    CANARY,
    CONTEXT,
    NEW_ACCESS,
    NEW_PAIR,
    OLD_ACCESS,
    OLD_SECRET,
    deployments,
    media_spec,
    sent,
    stored_spec,
    with_pair,
)


@pytest.fixture
def slow_sandbox() -> Iterator[Sandbox]:
    """Deployments of 0.9 s, so a test can act while one is still running."""
    with Sandbox(deployment_step_seconds=0.3) as running:
        yield running


@pytest.fixture
def stuck_sandbox() -> Iterator[Sandbox]:
    """Deployments that outlast any test's patience."""
    with Sandbox(deployment_step_seconds=30) as running:
        yield running


def running_pair(sandbox: Sandbox, app_id: str) -> tuple[str, str]:
    env = sandbox.app_running_env(app_id, "web")
    return env["SPACES_KEY"], env["SPACES_SECRET"]


@pytest.mark.parametrize("phase", ["ERROR", "CANCELED"])
def test_a_failed_deployment_is_a_sink_error_and_the_app_keeps_the_old_pair(
    sandbox, make_app_sink, phase
):
    app_id = sandbox.add_app(media_spec())
    sandbox.fail_next_deployment(app_id, phase)

    with pytest.raises(SinkError, match=f"ended {phase}; the running app still uses the previous"):
        make_app_sink(app_id).push(NEW_PAIR, CONTEXT)

    assert running_pair(sandbox, app_id) == (OLD_ACCESS, OLD_SECRET)
    assert deployments(sandbox, app_id)[-1]["phase"] == phase


def test_a_superseded_deployment_is_followed_to_the_one_that_replaced_it(
    slow_sandbox, make_app_sink, api_for
):
    app_id = slow_sandbox.add_app(media_spec())
    other = api_for(slow_sandbox)
    started: list[str] = []

    def sleep(seconds: float) -> None:
        if sent(slow_sandbox, "PUT") and not started:
            answer = other.post(f"/v2/apps/{app_id}/deployments", json={})
            started.append(answer.json()["deployment"]["id"])
        time.sleep(seconds)

    confirmation = make_app_sink(app_id, target=slow_sandbox, sleep=sleep).push(NEW_PAIR, CONTEXT)

    ours, theirs = deployments(slow_sandbox, app_id)[-2:]
    assert ours["phase"] == "SUPERSEDED"
    assert confirmation.detail["deployment_id"] == theirs["id"] == started[0]
    assert running_pair(slow_sandbox, app_id) == (NEW_ACCESS, CANARY)


def test_a_deployment_superseded_by_a_change_that_drops_the_pair_is_not_confirmed(
    slow_sandbox, make_app_sink, api_for
):
    app_id = slow_sandbox.add_app(media_spec())
    other = api_for(slow_sandbox)
    old_spec = other.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    reverted: list[int] = []

    def sleep(seconds: float) -> None:
        if sent(slow_sandbox, "PUT") and not reverted:
            reverted.append(other.put(f"/v2/apps/{app_id}", json={"spec": old_spec}).status_code)
        time.sleep(seconds)

    with pytest.raises(SinkError, match="superseded by a change that replaced SPACES_KEY"):
        make_app_sink(app_id, target=slow_sandbox, sleep=sleep).push(NEW_PAIR, CONTEXT)

    assert reverted == [200]


def test_a_token_without_app_update_gets_a_clear_error_and_nothing_changes(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec())
    before = stored_spec(sandbox, app_id)

    with pytest.raises(SinkError, match="the token lacks app:update"):
        make_app_sink(app_id, scopes=["app:read"]).push(NEW_PAIR, CONTEXT)

    assert stored_spec(sandbox, app_id) == before
    assert len(deployments(sandbox, app_id)) == 1


def test_a_token_without_app_read_gets_a_clear_error(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec())
    sink = make_app_sink(app_id, scopes=["app:update"])

    with pytest.raises(SinkError, match="the token lacks app:read"):
        sink.push(NEW_PAIR, CONTEXT)
    with pytest.raises(SinkError, match="the token lacks app:read"):
        sink.check()
    assert sent(sandbox, "PUT") == []


def test_an_app_that_does_not_exist_is_named(sandbox, make_app_sink):
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(SinkError, match=f"app {missing} not found"):
        make_app_sink(missing).push(NEW_PAIR, CONTEXT)


@pytest.mark.parametrize("lost", ["status 500", "dropped connection"])
def test_a_put_applied_but_answered_badly_is_not_resent_and_is_followed(
    sandbox, make_app_sink, caplog, lost
):
    app_id = sandbox.add_app(media_spec())
    before = stored_spec(sandbox, app_id)
    path = f"/v2/apps/{app_id}"
    if lost == "status 500":
        sandbox.add_fault(method="PUT", path=path, status=500, after=True)
    else:
        sandbox.add_fault(method="PUT", path=path, drop=True, after=True)
    caplog.set_level(logging.WARNING, logger="rotator")

    confirmation = make_app_sink(app_id).push(NEW_PAIR, CONTEXT)

    assert len(sent(sandbox, "PUT")) == 1
    assert len(deployments(sandbox, app_id)) == 2
    assert confirmation.detail["deployment_id"] == deployments(sandbox, app_id)[-1]["id"]
    assert running_pair(sandbox, app_id) == (NEW_ACCESS, CANARY)
    assert stored_spec(sandbox, app_id) == with_pair(before, "web", NEW_ACCESS, CANARY)
    assert "no clear answer" in caplog.text


def test_a_put_refused_with_500_before_applying_fails_without_a_second_put(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec())
    before = stored_spec(sandbox, app_id)
    sandbox.add_fault(method="PUT", path=f"/v2/apps/{app_id}", status=500)

    with pytest.raises(
        SinkError,
        match="shows no change to SPACES_KEY/SPACES_SECRET, so it is taken as not applied",
    ):
        make_app_sink(app_id).push(NEW_PAIR, CONTEXT)

    assert len(sent(sandbox, "PUT")) == 1
    assert stored_spec(sandbox, app_id) == before
    assert running_pair(sandbox, app_id) == (OLD_ACCESS, OLD_SECRET)


def test_polls_that_fail_for_a_while_do_not_fail_the_push(sandbox, make_app_sink, caplog):
    app_id = sandbox.add_app(media_spec())
    # Each poll gets two attempts from the client: two whole polls fail.
    sandbox.add_fault(method="GET", path=f"/v2/apps/{app_id}/deployments/.+", status=503, times=4)
    caplog.set_level(logging.WARNING, logger="rotator")

    make_app_sink(app_id, retry=RetryPolicy(attempts=2, base_delay=0.01)).push(NEW_PAIR, CONTEXT)

    assert running_pair(sandbox, app_id) == (NEW_ACCESS, CANARY)
    assert caplog.text.count("polling on") == 2


def test_a_deployment_that_outlasts_the_timeout_is_a_sink_error(stuck_sandbox, make_app_sink):
    app_id = stuck_sandbox.add_app(media_spec())

    with pytest.raises(SinkError, match=r"is still PENDING_BUILD after 0.3s; gave up waiting"):
        make_app_sink(app_id, target=stuck_sandbox, deploy_timeout=0.3).push(NEW_PAIR, CONTEXT)

    assert len(sent(stuck_sandbox, "PUT")) == 1


def test_a_deployment_that_never_clears_stops_the_push_before_any_put(
    stuck_sandbox, make_app_sink, api_for
):
    app_id = stuck_sandbox.add_app(media_spec())
    api_for(stuck_sandbox).post(f"/v2/apps/{app_id}/deployments", json={})

    with pytest.raises(SinkError, match=r"still PENDING_BUILD after 0.3s; app .* was not changed"):
        make_app_sink(app_id, target=stuck_sandbox, deploy_timeout=0.3).push(NEW_PAIR, CONTEXT)

    assert sent(stuck_sandbox, "PUT") == []
