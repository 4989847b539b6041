"""The App Platform sink against the sandbox: pushes that land, and only where they should."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from rotator.errors import SinkError
from rotator.sandbox import Sandbox
from rotator.sinks import SinkDeps
from rotator.sinks.base import Confirmation, Pending
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


def test_a_component_push_is_confirmed_once_the_app_runs_the_new_pair(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec())
    before_env = sandbox.app_running_env(app_id, "web")
    before_spec = stored_spec(sandbox, app_id)

    confirmation = make_app_sink(app_id).push(NEW_PAIR, CONTEXT)

    running = sandbox.app_running_env(app_id, "web")
    assert running["SPACES_KEY"] == NEW_ACCESS
    assert running["SPACES_SECRET"] == CANARY
    others = {k: v for k, v in running.items() if k not in ("SPACES_KEY", "SPACES_SECRET")}
    assert others == {
        k: v for k, v in before_env.items() if k not in ("SPACES_KEY", "SPACES_SECRET")
    }
    assert others["API_TOKEN"] == "api-token-plain"
    assert others["SESSION_SECRET"] == "session-secret-plain"
    assert others["DATABASE_URL"] == "${db.DATABASE_URL}"
    # The whole spec, databases and ingress included, is as it was but for the two entries.
    assert stored_spec(sandbox, app_id) == with_pair(before_spec, "web", NEW_ACCESS, CANARY)
    assert confirmation.sink == "app_platform:" + app_id + "/web"
    assert confirmation.detail == {
        "app_id": app_id,
        "deployment_id": sandbox.app(app_id)["active_deployment_id"],
    }


def test_an_app_level_push_changes_only_the_app_level_pair(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec(app_level_keys=True))
    before_spec = stored_spec(sandbox, app_id)

    make_app_sink(app_id, component=None).push(NEW_PAIR, CONTEXT)

    assert stored_spec(sandbox, app_id) == with_pair(before_spec, None, NEW_ACCESS, CANARY)
    for component in (None, "web", "thumbnailer"):
        running = sandbox.app_running_env(app_id, component)
        assert (running["SPACES_KEY"], running["SPACES_SECRET"]) == (NEW_ACCESS, CANARY)
        assert running["SESSION_SECRET"] == "session-secret-plain"


def test_missing_variables_are_appended_as_secrets_for_run_and_build_time(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec(keys=False))
    before_spec = stored_spec(sandbox, app_id)

    make_app_sink(app_id).push(NEW_PAIR, CONTEXT)

    after = stored_spec(sandbox, app_id)
    assert after == with_pair(before_spec, "web", NEW_ACCESS, CANARY, "RUN_AND_BUILD_TIME")
    assert [e["key"] for e in after["services"][0]["envs"]][-2:] == ["SPACES_KEY", "SPACES_SECRET"]
    assert sandbox.app_running_env(app_id, "web")["SPACES_SECRET"] == CANARY


def test_a_component_without_any_env_list_gets_one(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec())
    before_spec = stored_spec(sandbox, app_id)

    make_app_sink(app_id, component="thumbnailer").push(NEW_PAIR, CONTEXT)

    after = stored_spec(sandbox, app_id)
    assert after == with_pair(before_spec, "thumbnailer", NEW_ACCESS, CANARY, "RUN_AND_BUILD_TIME")
    assert sandbox.app_running_env(app_id, "thumbnailer")["SPACES_KEY"] == NEW_ACCESS
    # The web service's own pair is another sink's business.
    assert sandbox.app_running_env(app_id, "web")["SPACES_KEY"] == OLD_ACCESS


def test_the_push_waits_for_a_running_deployment_before_it_puts(sandbox, make_app_sink, api_for):
    app_id = sandbox.add_app(media_spec())
    started = api_for().post(f"/v2/apps/{app_id}/deployments", json={})
    assert started.status_code == 200
    theirs = started.json()["deployment"]["id"]

    make_app_sink(app_id).push(NEW_PAIR, CONTEXT)

    records = {d["id"]: d for d in deployments(sandbox, app_id)}
    ours = deployments(sandbox, app_id)[-1]
    assert ours["id"] != theirs
    # Theirs ran to its end before our PUT started a deployment over it.
    finished = records[theirs]["created_at"] + 3 * records[theirs]["step_seconds"]
    assert ours["created_at"] >= finished
    assert len(sent(sandbox, "PUT")) == 1
    assert len([r for r in sent(sandbox, "GET") if r["path"] == f"/v2/apps/{app_id}"]) > 1


def follow_deferred(sink, first, context):
    """Look again (push or confirm, as the rotation would) until confirmed; every answer."""
    answers = [first]
    for _ in range(1000):  # deployments take 3 s here: far fewer looks are needed
        last = answers[-1]
        if isinstance(last, Confirmation):
            return answers
        time.sleep(0.05)
        if last.before_push:
            answers.append(sink.push(NEW_PAIR, replace(context, waited=last.detail)))
        else:
            answers.append(sink.confirm(dict(last.detail), context))
    raise AssertionError(f"never confirmed: {answers[-1]}")


def test_a_deferred_push_does_not_wait_for_a_running_deployment_and_puts_after_it(
    make_app_sink, api_for
):
    with Sandbox(deployment_step_seconds=1.0) as box:  # theirs runs while we look
        app_id = box.add_app(media_spec())
        started = api_for(box).post(f"/v2/apps/{app_id}/deployments", json={})
        theirs = started.json()["deployment"]["id"]
        sink = make_app_sink(app_id, target=box, deploy_timeout=60.0)
        deferred = replace(CONTEXT, defer=True)
        box.reset_request_log()

        first = sink.push(NEW_PAIR, deferred)

        # The daemon's worker is free at once: nothing written, their deployment awaited.
        assert isinstance(first, Pending) and first.before_push
        assert first.detail["deployment_id"] == theirs
        assert sent(box, "PUT") == []
        answers = follow_deferred(sink, first, deferred)
        waits = [a for a in answers if isinstance(a, Pending) and a.before_push]
        assert {a.detail["since"] for a in waits} == {first.detail["since"]}  # one timeout
        ours = [a for a in answers if isinstance(a, Pending) and not a.before_push]
        assert ours and ours[0].detail["deployment_id"] != theirs
        assert len(sent(box, "PUT")) == 1
        records = {d["id"]: d for d in deployments(box, app_id)}
        finished = records[theirs]["created_at"] + 3 * records[theirs]["step_seconds"]
        assert records[ours[0].detail["deployment_id"]]["created_at"] >= finished
        assert box.app_running_env(app_id, "web")["SPACES_SECRET"] == CANARY


def test_the_cli_takes_over_a_wait_the_daemon_left_and_follows_it_to_the_end(
    make_app_sink, api_for
):
    with Sandbox(deployment_step_seconds=0.5) as box:
        app_id = box.add_app(media_spec())
        api_for(box).post(f"/v2/apps/{app_id}/deployments", json={})
        sink = make_app_sink(app_id, target=box, deploy_timeout=60.0)
        left = sink.push(NEW_PAIR, replace(CONTEXT, defer=True))  # the daemon, then killed
        assert isinstance(left, Pending) and left.before_push

        done = sink.push(NEW_PAIR, replace(CONTEXT, waited=left.detail))  # `rotator rotate`

        assert isinstance(done, Confirmation)
        assert len(sent(box, "PUT")) == 1
        assert box.app_running_env(app_id, "web")["SPACES_SECRET"] == CANARY


def test_a_deferred_push_gives_up_after_deploy_timeout_counted_from_its_first_look(
    make_app_sink, api_for
):
    with Sandbox(deployment_step_seconds=30) as stuck:
        app_id = stuck.add_app(media_spec())
        api_for(stuck).post(f"/v2/apps/{app_id}/deployments", json={})
        sink = make_app_sink(app_id, target=stuck, deploy_timeout=60.0)
        first = sink.push(NEW_PAIR, replace(CONTEXT, defer=True))
        assert isinstance(first, Pending) and first.before_push
        # The same wait, looked at again once its deploy_timeout has gone by.
        long_ago = {**first.detail, "since": f"{float(first.detail['since']) - 61:.3f}"}

        with pytest.raises(SinkError, match=r"after 60s; app .* was not changed") as caught:
            sink.push(NEW_PAIR, replace(CONTEXT, defer=True, waited=long_ago))

        assert caught.value.transient
        assert sent(stuck, "PUT") == []


def test_pushing_the_same_pair_twice_redeploys_and_confirms_again(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec())
    sink = make_app_sink(app_id)

    first = sink.push(NEW_PAIR, CONTEXT)
    spec_after_first = stored_spec(sandbox, app_id)
    second = sink.push(NEW_PAIR, CONTEXT)

    assert first.detail["deployment_id"] != second.detail["deployment_id"]
    assert stored_spec(sandbox, app_id) == spec_after_first
    assert sandbox.app_running_env(app_id, "web")["SPACES_SECRET"] == CANARY


def test_holds_reads_a_plain_access_key_and_cannot_read_a_secret_one(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec())
    sink = make_app_sink(app_id)
    assert sink.holds() == OLD_ACCESS

    sink.push(NEW_PAIR, CONTEXT)

    # Now a SECRET: DigitalOcean shows only EV[...], so the sink cannot tell.
    assert sink.holds() is None


def test_holds_is_none_when_the_variable_is_absent(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec(keys=False))
    assert make_app_sink(app_id).holds() is None


def test_check_reads_the_app_and_changes_nothing(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec(app_level_keys=True))
    before = sandbox.app(app_id)

    make_app_sink(app_id).check()
    make_app_sink(app_id, component=None).check()

    assert sandbox.app(app_id) == before
    assert {r["method"] for r in sandbox.requests()} == {"GET"}


def test_describe_push_says_what_changes_without_changing_anything(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec())
    before = sandbox.app(app_id)

    lines = make_app_sink(app_id).describe_push(NEW_ACCESS, CONTEXT)

    assert lines == [
        f"set SPACES_KEY={NEW_ACCESS} and SPACES_SECRET=<new secret> (SECRET) on app "
        f"{app_id}/web; keep 3 other variables; start a deployment and wait until it is ACTIVE"
    ]
    assert sandbox.app(app_id) == before
    assert {r["method"] for r in sandbox.requests()} == {"GET"}


def test_describe_push_mentions_adding_and_waiting(sandbox, make_app_sink, api_for):
    app_id = sandbox.add_app(media_spec(keys=False))
    api_for().post(f"/v2/apps/{app_id}/deployments", json={})

    lines = make_app_sink(app_id).describe_push(NEW_ACCESS, CONTEXT)

    assert lines[0].startswith("wait for deployment ")
    assert lines[1].startswith(f"add SPACES_KEY={NEW_ACCESS} and SPACES_SECRET=<new secret>")


@pytest.mark.parametrize("component", ["api", "db"])
def test_an_unknown_component_is_refused_by_name_before_any_put(sandbox, make_app_sink, component):
    app_id = sandbox.add_app(media_spec())
    sink = make_app_sink(app_id, component=component)

    for attempt in (sink.check, lambda: sink.describe_push(NEW_ACCESS, CONTEXT)):
        with pytest.raises(SinkError, match=repr(component)):
            attempt()
    with pytest.raises(SinkError, match=repr(component)) as caught:
        sink.push(NEW_PAIR, CONTEXT)

    if component == "db":
        assert "database" in str(caught.value)
    else:
        assert "web, thumbnailer" in str(caught.value)
    assert sent(sandbox, "PUT") == []


def test_an_app_level_pair_that_a_component_overrides_is_refused(sandbox, make_app_sink):
    app_id = sandbox.add_app(media_spec())  # web sets SPACES_KEY itself

    with pytest.raises(SinkError, match=r"component 'web' .* overrides the app-level value"):
        make_app_sink(app_id, component=None).push(NEW_PAIR, CONTEXT)

    assert sent(sandbox, "PUT") == []


def test_the_registry_builds_the_sink_and_it_needs_a_client(sandbox, make_app_sink):
    from rotator.sinks.app_platform import AppPlatformSinkConfig

    config = AppPlatformSinkConfig(
        type="app_platform",
        name="media-web",
        app_id="x",
        access_key_env="SPACES_KEY",
        secret_key_env="SPACES_SECRET",
    )
    with pytest.raises(SinkError, match="needs a DigitalOcean client"):
        config.build(SinkDeps())
    assert make_app_sink("x").type == "app_platform"
    assert config.deploy_timeout.total_seconds() == 900  # the default when not configured


def test_the_old_pair_is_what_the_app_starts_with(sandbox: Sandbox):
    # Guards the fixtures the other tests rely on.
    app_id = sandbox.add_app(media_spec())
    running = sandbox.app_running_env(app_id, "web")
    assert (running["SPACES_KEY"], running["SPACES_SECRET"]) == (OLD_ACCESS, OLD_SECRET)
