"""Log messages and error lines stay one line, whatever text a peer or a file slips in."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from rotator import logs

HOSTILE = "key DO00X\nerror: forged line\r\x1b[2J\x07\u2028\u202etxt\x85end"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain text, é and ✓", "plain text, é and ✓"),
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("next\x85line", "next\\x85line"),
        ("sep\u2028par\u2029", "sep\\u2028par\\u2029"),
        ("bidi\u202eoverride\u2066", "bidi\\u202eoverride\\u2066"),
    ],
)
def test_one_line_escapes_what_could_break_or_disguise_a_line(text: str, escaped: str) -> None:
    assert logs.one_line(text) == escaped


def test_one_line_twice_changes_nothing_more() -> None:
    once = logs.one_line(HOSTILE)
    assert logs.one_line(once) == once
    assert len(once.splitlines()) == 1


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_logged_message_with_control_characters_is_one_line(
    restore_logging: None, log_format: str
) -> None:
    stream = io.StringIO()
    logs.configure(log_format=log_format, level="INFO", stream=stream)

    logging.getLogger("rotator.test").warning("deleting %s", HOSTILE)

    output = stream.getvalue()
    assert output.count("\n") == 1 and output.endswith("\n")
    assert "\x1b" not in output and "\r" not in output and "\u2028" not in output
    if log_format == "json":
        assert "error: forged line" in json.loads(output)["message"]


def test_redaction_still_applies_before_escaping(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.configure(stream=stream)
    token = "dop_v1_" + "ab" * 32

    logging.getLogger("rotator.test").warning("token\n%s", token)

    assert token not in stream.getvalue()
    assert "token\\n[redacted-token]" in stream.getvalue()


def test_a_table_cell_or_field_with_control_characters_stays_in_its_row() -> None:
    from rotator.output import print_fields, print_table

    stream = io.StringIO()
    print_table(["name", "reason"], [["prod", HOSTILE]], stream)
    print_fields([("reason", HOSTILE)], stream)

    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert "\x1b" not in stream.getvalue()
    assert lines[1].startswith("prod") and lines[2].startswith("reason:")
