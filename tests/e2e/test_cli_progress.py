"""A rotation waiting for its deployment says what it waits for, on stderr, as it happens."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from rotator.sandbox import Sandbox
from tests.support.cli import ROTATION_SCOPES, media_policy


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Deployments slow enough (1 s a step) for a poll to see them before ACTIVE."""
    with Sandbox(deployment_step_seconds=1.0) as running:
        yield running


@pytest.fixture
def rotating(initialised, sandbox):
    initialised.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "2s"\n' + media_policy(sandbox.app_ids()[0])
    )
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    return initialised


def phases(stderr: str) -> list[str]:
    return re.findall(r"deployment \S+ ([A-Z_]+)$", stderr, flags=re.MULTILINE)


def test_each_phase_change_is_one_line_on_stderr_and_stdout_keeps_the_result(rotating):
    result = rotating("rotate", "media", "--json")
    assert result.code == 0, result.output
    assert json.loads(result.stdout)["status"] == "succeeded"  # nothing else on stdout
    lines = result.stderr.splitlines()
    assert any(re.search(r"policy media: created key \S+$", line) for line in lines), lines
    assert any("PUT app" in line and "deployment" in line for line in lines), lines
    seen = phases(result.stderr)
    assert seen[-1] == "ACTIVE", lines
    assert len(seen) >= 2 and seen[0] != "ACTIVE", lines
    assert len(seen) == len(set(seen)), "a phase is shown once, when it changes"
    assert any("revoke of" in line and "scheduled for" in line for line in lines), lines
    created = next(i for i, line in enumerate(lines) if "created key" in line)
    active = next(i for i, line in enumerate(lines) if line.endswith(" ACTIVE"))
    assert created < active


def test_minus_q_silences_progress(rotating):
    result = rotating("rotate", "media", "-q")
    assert result.code == 0, result.output
    assert result.stderr == ""
    assert "policy media: succeeded" in result.stdout


def test_on_a_terminal_progress_is_one_line_rewritten_in_place(rotating):
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "rotator", "rotate", "media"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            env=rotating.env,
        )
        os.close(follower)
        follower = -1
        terminal = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            terminal += chunk
        stdout, _ = process.communicate(timeout=60)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    assert process.returncode == 0, terminal
    shown = terminal.decode()
    assert "\n" not in shown, shown  # no line feed: one line, rewritten in place
    assert shown.count("\r\x1b[2K") >= 3, shown
    assert shown.endswith("\r\x1b[2K"), "the line is cleared before the result"
    assert "ACTIVE" in shown
    assert b"policy media: succeeded" in stdout
