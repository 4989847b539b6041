"""What `rotator` writes on stderr under systemd's journal and in JSON mode, as a process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d")


def run_into_journal(home, *args: str) -> tuple[int, list[str]]:
    """Run rotator with stderr on a pipe that $JOURNAL_STREAM names, as systemd does."""
    read_end, write_end = os.pipe()
    status = os.fstat(write_end)
    env = {**home.env, "JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rotator", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=write_end,
        text=True,
    )
    os.close(write_end)
    chunks: list[str] = []
    with os.fdopen(read_end) as reader:
        thread = threading.Thread(target=lambda: chunks.append(reader.read()), daemon=True)
        thread.start()
        code = process.wait(timeout=120)
        thread.join(timeout=10)
    return code, "".join(chunks).splitlines()


def validation_due(home) -> None:
    """Make the token's validation due: validate_every is 1s and the token was checked at add."""
    home.write_config(validate_every="1s")
    time.sleep(1.1)


def test_under_the_journal_every_line_has_a_priority_and_no_timestamp(home):
    validation_due(home)
    home.sandbox.add_fault(method="GET", path="/v2/account", status=500, times=None)
    code, lines = run_into_journal(home, "run", "--once")
    assert code == 1, lines
    assert lines and all(re.match(r"<[2-7]>", line) for line in lines), lines
    assert all(re.match(r"<\d>rotator[.\w]*: ", line) for line in lines), lines  # no time
    assert any(
        re.match(r"<4>rotator\.engine\.jobs: job validate: 1 due; 1 unknown", ln) for ln in lines
    )
    assert any(
        re.match(r"<6>rotator\.engine\.jobs: job rotate: 1 due; 1 succeeded", ln) for ln in lines
    )


def test_a_redirected_stderr_is_not_the_journal_even_with_journal_stream_set(home):
    result = home("run", "--once", env={"JOURNAL_STREAM": "8:12345"})
    assert result.code == 0, result.stderr
    assert not any(line.startswith("<") for line in result.stderr.splitlines())
    assert TIMESTAMP.match(result.stderr)


def test_json_lines_name_the_policy_rotation_sink_and_connection_they_are_about(home):
    validation_due(home)
    result = home("run", "--once", env={"ROTATOR_LOG_FORMAT": "json"})
    assert result.code == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]

    def entry(pattern: str) -> dict:
        return next(e for e in entries if re.search(pattern, e["message"]))

    rotated = entry(r"^policy media: rotated ")
    assert rotated["policy"] == "media"
    assert rotated["job"] == "rotate"
    rotation_id = rotated["rotation_id"]
    pushing = entry(r"setting SPACES_KEY=")
    assert (pushing["policy"], pushing["rotation_id"]) == ("media", rotation_id)
    assert pushing["sink"]
    assert entry(r"^job audit: ")["job"] == "audit"
    assert all(e.get("connection") in (None, "prod") for e in entries)


def test_the_cli_error_line_is_json_in_json_mode(home):
    result = home("connection", "show", "nosuch", env={"ROTATOR_LOG_FORMAT": "json"})
    assert result.code != 0
    (line,) = result.stderr.splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["logger"]) == ("error", "rotator.cli")
    assert "nosuch" in entry["message"]
    plain = home("connection", "show", "nosuch")
    assert plain.stderr.startswith("error: ") and "nosuch" in plain.stderr
