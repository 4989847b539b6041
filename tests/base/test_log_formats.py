"""Log formats: journald priorities under systemd, structured JSON fields, the CLI's own lines."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotator import logs

TOKEN = "dop_v1_" + "f" * 64


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    output = logs._output
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logs._output = output


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_under_the_journal_each_line_has_its_priority_and_no_timestamp():
    stream = io.StringIO()
    logs.configure(level="DEBUG", stream=stream, journal=True)
    log = logging.getLogger("rotator.test")
    log.debug("looked")
    log.info("did")
    log.warning("odd")
    log.error("broke")
    log.critical("gone")
    assert lines(stream) == [
        "<7>rotator.test: looked",
        "<6>rotator.test: did",
        "<4>rotator.test: odd",
        "<3>rotator.test: broke",
        "<2>rotator.test: gone",
    ]


def test_every_line_of_a_traceback_keeps_the_priority_so_journalctl_p_filters_it_whole():
    stream = io.StringIO()
    logs.configure(stream=stream, journal=True)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("rotator.test").exception("unexpected")
    found = lines(stream)
    assert len(found) > 2
    assert all(line.startswith("<3>") for line in found), found
    assert found[-1] == "<3>RuntimeError: boom"


def test_outside_the_journal_plain_lines_keep_their_timestamp_and_level():
    stream = io.StringIO()
    logs.configure(stream=stream, journal=False)
    logging.getLogger("rotator.test").warning("odd")
    (line,) = lines(stream)
    assert line.endswith(" WARNING rotator.test: odd")
    assert line[:4].isdigit() and not line.startswith("<")


def test_the_journal_is_recognised_only_on_the_stream_journal_stream_names(tmp_path: Path):
    with open(tmp_path / "stderr", "w") as stream, open(tmp_path / "other", "w") as other:
        status = os.fstat(stream.fileno())
        names = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        assert logs.journal_stream(stream, names)
        assert not logs.journal_stream(other, names)  # a redirected stderr
        assert not logs.journal_stream(stream, {})
        assert not logs.journal_stream(stream, {"JOURNAL_STREAM": "garbage"})
    assert not logs.journal_stream(io.StringIO(), names)


def test_json_lines_carry_the_structured_fields_from_extra_and_from_a_block():
    stream = io.StringIO()
    logs.configure(log_format="json", stream=stream, journal=False)
    log = logging.getLogger("rotator.test")
    log.info("plain")
    log.info("given", extra={"policy": "media", "rotation_id": "r1", "sink": None})
    with logs.fields(job="rotate", policy="media"):
        with logs.fields(sink="web", rotation_id=None):
            log.info("inside")
        log.info("overridden", extra={"policy": "other"})
    log.info("after")
    entries = [json.loads(line) for line in lines(stream)]
    fields = [{k: v for k, v in e.items() if k in logs.FIELDS} for e in entries]
    assert fields == [
        {},
        {"policy": "media", "rotation_id": "r1"},
        {"job": "rotate", "policy": "media", "sink": "web"},
        {"job": "rotate", "policy": "other"},
        {},
    ]
    assert entries[0]["level"] == "info" and entries[0]["logger"] == "rotator.test"


def test_json_under_the_journal_is_still_json_once_journald_strips_the_prefix():
    stream = io.StringIO()
    logs.configure(log_format="json", stream=stream, journal=True)
    logging.getLogger("rotator.test").warning("odd", extra={"connection": "prod"})
    (line,) = lines(stream)
    assert line.startswith("<4>{")
    entry = json.loads(line.removeprefix("<4>"))
    assert (entry["level"], entry["connection"], entry["message"]) == ("warning", "prod", "odd")


def test_the_cli_error_line_is_plain_by_default_json_in_json_mode_and_never_leaks():
    plain = io.StringIO()
    logs.problem(plain, "error", f"bad token {TOKEN}")
    assert plain.getvalue() == "error: bad token [redacted-token]\n"

    stream = io.StringIO()
    logs.configure(log_format="json", stream=stream, journal=False)
    logs.problem(stream, "warning", "careful", connection="prod")
    logs.problem(stream, "error", f"no {TOKEN}")
    first, second = (json.loads(line) for line in lines(stream))
    assert (first["level"], first["logger"], first["message"]) == (
        "warning",
        "rotator.cli",
        "careful",
    )
    assert first["connection"] == "prod"
    assert second["level"] == "error" and TOKEN not in json.dumps(second)

    elsewhere = io.StringIO()  # a stream configure() was not given: plain again
    logs.problem(elsewhere, "error", "x")
    assert elsewhere.getvalue() == "error: x\n"


def test_the_cli_error_line_under_the_journal_has_its_priority():
    stream = io.StringIO()
    logs.configure(stream=stream, journal=True)
    logs.problem(stream, "error", "no store")
    logs.problem(stream, "warning", "old token")
    assert lines(stream) == ["<3>error: no store", "<4>warning: old token"]
