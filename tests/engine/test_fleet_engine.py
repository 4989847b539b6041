"""The fleet engine, through the sandbox over HTTP: concurrency inside the token's budget.

No wall-clock assertion here: the tests look at outcomes and at the order of
events (the sandbox's request log, the store's history); speed figures live
in ``benchmarks/``.
"""

from __future__ import annotations

import json
from collections import Counter

import httpx
from daemon_support import Home
from fleet_support import fleet_config, make_fleet

FLEET = 50
LIMIT = 300  # requests per minute: the fleet needs ~425 calls, so it is paced


def statuses(home: Home) -> Counter[int]:
    return Counter(int(r["status"]) for r in home.sandbox.requests())


def test_a_50_policy_fleet_at_a_small_limit_rotates_with_no_failed_item(make_home):
    home = make_home(step=0.02)
    fleet = make_fleet(home.sandbox, FLEET)
    home.sandbox.set_rate_limits(per_minute=LIMIT)
    home.config.write_text(fleet_config(fleet, per_minute=LIMIT))
    home.sandbox.reset_request_log()
    result = home("run", "--once", "--json", timeout=300)
    assert result.code == 0, result.stderr[-3000:]
    summaries = {s["job"]: s for s in json.loads(result.stdout)["jobs"]}
    rotate = summaries["rotate"]
    assert rotate["failed"] == 0, rotate
    status = {p["name"]: p for p in home.status()["policies"]}
    assert all(status[name]["in_flight"] is None for name, _, _ in fleet)
    assert len(home.history("rotation_promoted")) == FLEET
    for name, key, app_id in fleet:
        original = next(k for k in home.sandbox.spaces_keys() if k["name"] == key)
        env = home.sandbox.app_running_env(app_id, "web")
        assert env["SPACES_KEY"] == status[name]["current_access_key"] != original["access_key"]
    # A fresh process cannot know the calls `connection add` made in the sandbox's
    # current minute, so its first minute may meet a 429 or two: at most 1 %.
    answered = statuses(home)
    assert answered[429] <= 0.01 * sum(answered.values()), answered


def test_a_rotation_is_never_started_without_its_call_budget(home):
    home.write_config()
    # Leave prod's token 4 calls of its hour, the reset far away: a rotation needs ~10.
    home.sandbox.set_rate_limits(per_hour=100)
    home.sandbox.spend_rate_budget(home.token, 96)
    home.sandbox.reset_request_log()
    result = home("rotate", "media")
    assert result.code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "resets at" in errors[0] and "UTC" in errors[0]
    assert "Traceback" not in result.stderr
    sent = [(r["method"], r["path"]) for r in home.sandbox.requests()]
    assert not any(method == "POST" for method, _ in sent), sent  # no key was made
    assert home.status()["policies"][0]["in_flight"] is None  # nothing was started


def history_events(home: Home) -> list[dict]:
    """Every history entry, oldest first."""
    result = home("history", "--json", "--limit", "1000")
    assert result.code == 0, result.stderr
    entries = json.loads(result.stdout)
    return sorted(entries, key=lambda e: (e["at"], e.get("id", 0)))


def test_a_slow_deployment_does_not_hold_up_validation(make_home, start_daemon):
    home = make_home(step=2.0)  # the deployment takes several seconds
    home.write_config(validate_every="1s")
    daemon = start_daemon(home)
    daemon.wait_for(r"policy media: rotated", timeout=60)
    code, _ = daemon.stop()
    assert code == 0, daemon.log
    events = [e["event"] for e in history_events(home)]
    waiting = events.index("rotation_sink_waiting")
    promoted = events.index("rotation_promoted")
    # While the deployment ran, the daemon went on validating.
    assert "connection_validated" in events[waiting:promoted], events


def test_kill_while_waiting_for_the_deployment_then_the_cli_resumes_and_follows_it(
    make_home, start_daemon
):
    home = make_home(step=2.0)
    home.write_config()
    original = next(k for k in home.sandbox.spaces_keys() if k["name"] == "demo-media")
    daemon = start_daemon(home)
    daemon.wait_for(r"job rotate: 1 due; 1 waiting_for_deployment", timeout=30)
    daemon.kill()
    in_flight = home.status()["policies"][0]["in_flight"]
    assert in_flight is not None and in_flight["state"] == "waiting_for_deployment"
    assert home.sandbox.app_running_env(home.app_id, "web")["SPACES_KEY"] == original["access_key"]
    resumed = home("rotate", "media")
    assert resumed.code == 0, resumed.output
    assert "resuming rotation" in resumed.stderr and "from waiting_for_deployment" in resumed.stderr
    assert "promoted" in resumed.stderr
    policy = home.status()["policies"][0]
    assert policy["in_flight"] is None
    assert policy["current_access_key"] == in_flight["new_access_key"]
    env = home.sandbox.app_running_env(home.app_id, "web")
    secrets = {k["access_key"]: k["secret_key"] for k in home.sandbox.spaces_keys()}
    assert env["SPACES_KEY"] == in_flight["new_access_key"]
    assert env["SPACES_SECRET"] == secrets[env["SPACES_KEY"]]
    assert original["access_key"] in secrets  # kept for its grace period


def test_a_policy_never_rotates_twice_at_once(make_home, start_daemon):
    home = make_home(step=1.0)
    home.write_config()
    daemon = start_daemon(home)
    daemon.wait_for(r"job rotate: 1 due; 1 waiting_for_deployment", timeout=30)
    # The daemon waits for the deployment; an operator rotates the same policy meanwhile:
    # the CLI finishes the daemon's rotation, or finds the policy locked at that instant.
    cli = home("rotate", "media")
    assert cli.code in (0, 1), cli.output
    code, _ = daemon.stop()
    assert code == 0, daemon.log
    if cli.code == 1:
        assert "in use by another process" in cli.stderr, cli.stderr
        again = home("rotate", "media")
        assert again.code == 0, again.output
    events = history_events(home)
    started = [e for e in events if e["event"] == "rotation_planned"]
    promoted = [e for e in events if e["event"] == "rotation_promoted"]
    assert len(started) == 1, started  # one rotation, finished once: never a second
    assert len(promoted) == 1, promoted
    made = [r for r in home.sandbox.requests() if r["method"] == "POST" and "keys" in r["path"]]
    assert len(made) == 1, made


def test_a_deployment_running_before_the_put_does_not_hold_the_only_worker(make_home, start_daemon):
    home = make_home(step=4.0)  # deployments run for 12 s: theirs outlasts the start-up
    home.write_config(validate_every="1s")
    one_worker = home.config.read_text().replace("[daemon]\n", "[daemon]\nconcurrency = 1\n", 1)
    home.config.write_text(one_worker)
    with httpx.Client(base_url=home.sandbox.url, timeout=10) as theirs:
        theirs.headers["Authorization"] = f"Bearer {home.sandbox.add_token(['app:update'])}"
        started = theirs.post(f"/v2/apps/{home.app_id}/deployments", json={})
    assert started.status_code == 200, started.text
    their_deployment = started.json()["deployment"]["id"]
    daemon = start_daemon(home)
    daemon.wait_for(r"policy media: rotated", timeout=90)
    code, _ = daemon.stop()
    assert code == 0, daemon.log
    events = history_events(home)
    names = [e["event"] for e in events]
    waits = [i for i, e in enumerate(events) if e["event"] == "rotation_sink_waiting"]
    before_put = [i for i in waits if events[i]["detail"].get("pushed") == "no"]
    after_put = [i for i in waits if events[i]["detail"].get("pushed") != "no"]
    assert before_put and after_put, [(e["event"], e.get("detail")) for e in events]
    assert events[before_put[0]]["detail"]["deployment_id"] == their_deployment
    assert events[after_put[0]]["detail"]["deployment_id"] != their_deployment
    # The only worker went on validating while the rotation waited to make its PUT.
    assert "connection_validated" in names[before_put[0] : after_put[0]], names
    puts = [r for r in home.sandbox.requests() if r["method"] == "PUT"]
    assert len(puts) == 1, puts
    assert names.index("rotation_promoted") > after_put[0]
