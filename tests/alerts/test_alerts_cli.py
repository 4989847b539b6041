"""``rotator alerts test`` run as an operator runs it: a subprocess with its own environment."""

import json
import os
import subprocess
import sys
import time

import pytest
from alerts_support import CANARIES, SIGNING_SECRET, SLACK_PATH, WEBHOOK_PATH

from rotator.alerts import verify_signature
from rotator.sandbox.receiver import Receiver


class Cli:
    def __init__(self, home):
        self.home = home
        self.config = home / "rotator.toml"
        self.config.write_text("")
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "ROTATOR_STATE_DIR": str(home / "state"),
            "ROTATOR_CONFIG": str(self.config),
            "ROTATOR_LOG_LEVEL": "DEBUG",  # the chattiest logs are the riskiest
        }
        self.outputs: list[str] = []

    def __call__(self, *args):
        done = subprocess.run(
            [sys.executable, "-m", "rotator", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        self.outputs.append(done.stdout + done.stderr)
        return done

    def channels(self, *tables: str) -> None:
        self.config.write_text("\n".join(tables))


def webhook_table(url: str, secret_file, name: str = "ops") -> str:
    return (
        f'[[alerts]]\ntype = "webhook"\nname = "{name}"\nurl = "{url}"\n'
        f'secret_file = "{secret_file}"\n'
    )


def slack_table(url_file) -> str:
    return f'[[alerts]]\ntype = "slack"\nurl_file = "{url_file}"\n'


@pytest.fixture
def cli(tmp_path, receiver):
    run = Cli(tmp_path)
    (tmp_path / "webhook-secret").write_text(SIGNING_SECRET + "\n")
    (tmp_path / "slack-url").write_text(receiver.url + SLACK_PATH + "\n")
    assert run("init").returncode == 0
    yield run
    everything = "\n".join(run.outputs)
    for canary in CANARIES:
        assert canary not in everything


def test_alerts_test_reaches_every_channel_and_says_ok_for_each(cli, receiver, tmp_path):
    cli.channels(
        webhook_table(receiver.url + WEBHOOK_PATH, tmp_path / "webhook-secret"),
        slack_table(tmp_path / "slack-url"),
    )
    done = cli("alerts", "test")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("ops ") and lines[0].endswith(" ok")
    assert lines[1].startswith("slack-1 ") and lines[1].endswith(" ok")
    [hook] = receiver.to(WEBHOOK_PATH)
    assert hook.json()["event"] == "test"
    assert verify_signature(
        SIGNING_SECRET, hook.headers["x-rotator-signature"], hook.body, now=time.time()
    )
    [slack] = receiver.to(SLACK_PATH)
    assert slack.json()["blocks"][0]["type"] == "header"
    history = json.loads(cli("history", "--json").stdout)
    assert [e["subject"] for e in history if e["event"] == "alert_test"] == ["ops", "slack-1"]


def test_a_failing_channel_makes_alerts_test_exit_1_and_says_why(cli, receiver, tmp_path):
    down = Receiver().start()
    down.stop()
    cli.channels(
        webhook_table(receiver.url + WEBHOOK_PATH, tmp_path / "webhook-secret"),
        webhook_table(down.url + "/hook", tmp_path / "webhook-secret", name="backup"),
        slack_table(tmp_path / "slack-url"),
    )
    done = cli("alerts", "test", "--json")
    assert done.returncode == 1, done.stderr
    channels = json.loads(done.stdout)["channels"]
    assert [(c["name"], c["type"], c["status"]) for c in channels] == [
        ("ops", "webhook", "ok"),
        ("backup", "webhook", "failed"),
        ("slack-1", "slack", "ok"),
    ]
    assert "no answer from" in channels[1]["error"]
    assert "Traceback" not in done.stderr

    receiver.status = 404
    receiver.reply = b"no_service"
    done = cli("alerts", "test")
    assert done.returncode == 1
    slack_line = done.stdout.splitlines()[2]
    assert slack_line.startswith("slack-1 ")
    assert slack_line.endswith(
        f"error: alert channel slack-1: {receiver.url} answered 404 (no_service)"
    )


def test_alerts_test_without_any_channel_is_a_usage_error(cli):
    done = cli("alerts", "test")
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "no alert channel is configured" in line


def test_an_unreadable_secret_file_is_one_clear_error_line(cli, receiver, tmp_path):
    cli.channels(webhook_table(receiver.url + WEBHOOK_PATH, tmp_path / "missing"))
    done = cli("alerts", "test")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "alert channel ops: signing secret: cannot read" in line
    assert receiver.requests == []


def test_alerts_test_has_help():
    done = subprocess.run(
        [sys.executable, "-m", "rotator", "alerts", "test", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert "--json" in done.stdout
