"""Commands are quiet like the tools operators already use: results only, logs when asked."""

from __future__ import annotations

import re

from tests.support.cli import ROTATION_SCOPES, media_policy

# What a log line of the plain format starts with: "2026-12-05 08:14:03,123 INFO ..."
LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} (DEBUG|INFO|WARNING|ERROR) ")


def log_lines(text: str, level: str | None = None) -> list[str]:
    found = [line for line in text.splitlines() if LOG_LINE.match(line)]
    return [line for line in found if f" {level} " in line] if level else found


def rotating(initialised, sandbox):
    initialised.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "2s"\n' + media_policy(sandbox.app_ids()[0])
    )
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    return initialised


def test_a_rotation_prints_its_result_and_no_log_lines_by_default(initialised, sandbox):
    rotator = rotating(initialised, sandbox)
    result = rotator("rotate", "media")
    assert result.code == 0, result.output
    assert "policy media: succeeded" in result.stdout
    assert log_lines(result.stderr) == [], result.stderr


def test_every_everyday_command_is_silent_on_stderr_when_all_is_well(initialised, sandbox):
    rotator = rotating(initialised, sandbox)
    for argv in (
        ("connection", "list"),
        ("connection", "validate", "--all"),
        ("connection", "show", "prod"),
        ("status",),
        ("history",),
        ("config", "check"),
        ("rotate", "media", "--dry-run"),
    ):
        result = rotator(*argv)
        assert result.code == 0, (argv, result.output)
        assert result.stderr == "", (argv, result.stderr)


def test_minus_v_shows_info_logs_and_minus_vv_debug_logs_before_or_after_the_command(
    initialised, sandbox
):
    rotator = rotating(initialised, sandbox)
    after = rotator("rotate", "media", "-v")
    assert after.code == 0, after.output
    assert any("rotated" in line for line in log_lines(after.stderr, "INFO")), after.stderr
    assert log_lines(after.stderr, "DEBUG") == []
    before = rotator("-vv", "connection", "validate", "--all")
    assert before.code == 0, before.output
    assert log_lines(before.stderr, "DEBUG"), before.stderr


def test_rotator_log_level_overrides_the_quiet_default(initialised, sandbox):
    rotator = rotating(initialised, sandbox)
    result = rotator("rotate", "media", env={"ROTATOR_LOG_LEVEL": "INFO"})
    assert result.code == 0, result.output
    assert log_lines(result.stderr, "INFO"), result.stderr
    quiet = rotator("-v", "status", env={"ROTATOR_LOG_LEVEL": "ERROR"})
    assert log_lines(quiet.stderr) == [], quiet.stderr


def test_minus_q_keeps_the_result_on_stdout_and_drops_warnings(initialised, sandbox):
    legacy = "a" * 64  # a bare 64-hex token is accepted with a warning
    warned = initialised("connection", "add", "old", "--token-stdin", "--no-validate", stdin=legacy)
    assert warned.code == 0, warned.output
    assert "warning:" in warned.stderr
    quiet = initialised(
        "connection", "add", "old2", "--token-stdin", "--no-validate", "-q", stdin=legacy
    )
    assert quiet.code == 0, quiet.output
    assert quiet.stderr == ""
    assert "added connection 'old2'" in quiet.stdout


def test_minus_q_still_prints_errors(initialised):
    result = initialised("-q", "connection", "show", "nobody")
    assert result.code != 0
    assert result.stderr.startswith("error: "), result.stderr


def test_quiet_and_verbose_together_are_a_usage_error(initialised):
    result = initialised("-q", "status", "-v")
    assert result.code == 2
    assert "-q and -v do not go together" in result.stderr


def test_the_daemon_still_logs_at_info(initialised, sandbox):
    rotator = rotating(initialised, sandbox)
    result = rotator("run", "--once")
    assert result.code == 0, result.output
    assert log_lines(result.stderr, "INFO"), result.stderr
