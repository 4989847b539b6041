"""`rotator run` as a subprocess against the sandbox: schedule, signals, notify, health, --once."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest
from daemon_support import NotifySocket
from prometheus_client.parser import text_string_to_metric_families


def metric(text: str, family: str, **labels: str) -> float:
    for parsed in text_string_to_metric_families(text):
        if parsed.name == family:
            for sample in parsed.samples:
                if all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
    raise AssertionError(f"no {family} {labels} in the metrics")


def test_the_daemon_says_ready_then_validates_and_rotates_on_schedule_and_stops_cleanly(
    home, start_daemon, tmp_path
):
    home.write_config(
        validate_every="1s", audit_every="1h", every="2s", grace="1s", health_listen="127.0.0.1:0"
    )
    notify = NotifySocket(tmp_path, abstract=True)
    try:
        daemon = start_daemon(
            home, env={"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "2000000"}
        )
        ready = notify.wait_for("READY=1")
        assert "STATUS" in ready
        notify.wait_for("WATCHDOG=1", timeout=5)
        daemon.wait_for(r"job validate: .*1 valid", times=2)
        daemon.wait_for(r"policy media: rotated", times=2, timeout=30)
        base = daemon.health_url
        assert httpx.get(f"{base}/healthz").text == "ok\n"
        assert httpx.get(f"{base}/readyz").status_code == 200
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert metric(metrics.text, "rotator_rotations", outcome="succeeded") >= 2
        assert metric(metrics.text, "rotator_validations", status="valid") >= 2
        assert metric(metrics.text, "rotator_api_calls") > 0
        assert metric(metrics.text, "rotator_job_last_success_timestamp_seconds", job="rotate")
        code, seconds = daemon.stop()
        notify.wait_for("STOPPING=1")
    finally:
        notify.close()
    assert code == 0, daemon.log
    assert seconds < 10
    assert "Traceback" not in daemon.log
    status = home.status()["policies"][0]
    assert status["in_flight"] is None
    assert (
        home.sandbox.app_running_env(home.app_id, "web")["SPACES_KEY"]
        == (status["current_access_key"])
    )


def test_sighup_applies_a_good_config_and_keeps_the_old_one_when_the_new_one_is_bad(
    home, start_daemon, tmp_path
):
    home.write_config(validate_every="1h")  # `connection add` just validated: nothing due
    notify = NotifySocket(tmp_path)
    try:
        daemon = start_daemon(home, env={"NOTIFY_SOCKET": notify.address})
        notify.wait_for("READY=1")
        daemon.wait_for(r"job rotate: 1 due; 1 succeeded")
        good = home.config.read_text()

        home.config.write_text(good.replace('validate_every = "1h"', 'validate_every = "soon"'))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(r"config reload failed, keeping the previous config: .*validate_every")
        notify.wait_for("RELOADING=1")
        time.sleep(1.5)
        assert daemon.process.poll() is None
        assert daemon.count(r"job validate:") == 0  # still the old hour

        home.config.write_text(good.replace('validate_every = "1h"', 'validate_every = "1s"'))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(r"config reloaded: validate every 1s")
        daemon.wait_for(r"job validate: 1 due; 1 valid", times=2)
        code, _ = daemon.stop()
    finally:
        notify.close()
    assert code == 0, daemon.log


def test_sigterm_mid_rotation_exits_0_and_a_restart_completes_the_rotation(make_home, start_daemon):
    home = make_home(step=1.0)  # a deployment takes 3 s: long enough to stop in the middle
    home.write_config()
    original = next(k for k in home.sandbox.spaces_keys() if k["name"] == "demo-media")
    daemon = start_daemon(home)
    daemon.wait_for(r"setting SPACES_KEY=")
    code, seconds = daemon.stop()
    assert code == 0, daemon.log
    assert seconds < 10
    in_flight = home.status()["policies"][0]["in_flight"]
    # The daemon does not wait for the deployment in a worker: it persisted the wait.
    assert in_flight is not None, daemon.log
    assert in_flight["state"] in ("pushing", "waiting_for_deployment"), daemon.log
    running = home.sandbox.app_running_env(home.app_id, "web")
    assert running["SPACES_KEY"] == original["access_key"]  # the old key still serves

    restarted = start_daemon(home)
    restarted.wait_for(r"resuming 1 rotation\(s\) left in flight: media")
    restarted.wait_for(r"job rotate: 1 due; 1 resumed", timeout=30)
    code, _ = restarted.stop()
    assert code == 0, restarted.log
    policy = home.status()["policies"][0]
    assert policy["in_flight"] is None
    assert policy["current_access_key"] == in_flight["new_access_key"]
    env = home.sandbox.app_running_env(home.app_id, "web")
    assert env["SPACES_KEY"] == in_flight["new_access_key"]
    secrets = {k["access_key"]: k["secret_key"] for k in home.sandbox.spaces_keys()}
    assert env["SPACES_SECRET"] == secrets[env["SPACES_KEY"]]
    assert original["access_key"] in secrets  # kept alive for its grace period


def test_once_runs_every_due_job_then_exits_and_a_second_run_repeats_nothing(home):
    home.write_config(validate_every="1h", audit_every="1h")
    first = home("run", "--once")
    assert first.code == 0, first.stderr
    assert "job audit: 1 due; 1 ok" in first.stderr
    assert "job rotate: 1 due; 1 succeeded" in first.stderr
    assert "job validate" not in first.stderr  # `connection add` validated it just now
    audits = len(home.history("connection_audited"))
    second = home("run", "--once")
    assert second.code == 0, second.stderr
    assert "job " not in second.stderr  # nothing was due
    assert len(home.history("connection_audited")) == audits
    assert len(home.history("rotation_promoted")) == 1


def test_once_exits_1_when_an_item_failed_and_logs_json_lines_when_asked(home):
    home.write_config(validate_every="1s")
    time.sleep(1)
    home.sandbox.add_fault(method="GET", path="/v2/account", status=500, times=None)
    result = home("run", "--once", env={"ROTATOR_LOG_FORMAT": "json"})
    assert result.code == 1, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    messages = [entry["message"] for entry in entries]
    assert any("job validate: 1 due; 1 unknown; 1 failed" in m for m in messages), messages
    assert {entry["level"] for entry in entries} <= {"info", "warning", "error"}


def test_a_second_daemon_on_the_same_store_fails_with_one_line_while_the_cli_works(
    home, start_daemon
):
    home.write_config()
    daemon = start_daemon(home)
    daemon.wait_for(r"rotator run: store")
    second = home("run", timeout=20)
    assert second.code == 1
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, second.stderr
    assert lines[0].startswith("error: rotator run is already running on ")
    assert f"pid {daemon.process.pid}" in lines[0]
    assert home("connection", "list").code == 0
    assert home("status").code == 0
    code, _ = daemon.stop()
    assert code == 0, daemon.log


@pytest.mark.parametrize("address", ["0.0.0.0:9464", "192.0.2.1:9464"])
def test_a_public_health_address_is_refused_unless_asked_for(home, address):
    home.write_config(health_listen=address)
    refused = home("run", timeout=20)
    assert refused.code == 2
    assert "is not a loopback address" in refused.stderr
    assert "--health-public" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
