"""rotator.output: one timestamp format, JSON documents, progress lines."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

from rotator.output import (
    ProgressLine,
    Streamed,
    print_json,
    print_table,
    print_table_streamed,
    stamp,
    when,
)

MOMENT = datetime(2026, 12, 5, 8, 14, 3, 123456, tzinfo=UTC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_time_is_iso_8601_utc_to_the_second_with_z():
    assert stamp(MOMENT) == "2026-12-05T08:14:03Z"
    assert stamp(MOMENT.astimezone(timezone(timedelta(hours=2)))) == "2026-12-05T08:14:03Z"
    assert stamp("2026-12-05T08:14:03.123456+00:00") == "2026-12-05T08:14:03Z"
    assert stamp(None) == "-"
    assert stamp("not a time") == "not a time"
    assert when(MOMENT, MOMENT + timedelta(minutes=5)) == "2026-12-05T08:14:03Z (5m ago)"


def test_a_json_document_carries_every_time_in_the_one_format():
    out = io.StringIO()
    print_json(
        {
            "at": MOMENT,
            "iso": MOMENT.isoformat(),
            "nested": [{"due": "2026-12-05T10:14:03+02:00"}],
            "name": "2026-12-05",  # a date alone is not a time
            "text": "rotated at 2026-12-05T08:14:03+00:00",  # prose stays as written
        },
        out,
    )
    document = json.loads(out.getvalue())
    assert document["at"] == document["iso"] == "2026-12-05T08:14:03Z"
    assert document["nested"][0]["due"] == "2026-12-05T08:14:03Z"
    assert document["name"] == "2026-12-05"
    assert document["text"] == "rotated at 2026-12-05T08:14:03+00:00"


def test_a_table_never_mixes_two_formats():
    out = io.StringIO()
    print_table(
        ["name", "at", "due", "detail"],
        [
            ["a", MOMENT, MOMENT.isoformat(), f"revoke_after={MOMENT.isoformat()} x=1"],
            ["b", when(MOMENT), "2026-12-05 08:14:03+00:00", None],
        ],
        out,
    )
    text = out.getvalue()
    assert text.count("2026-12-05T08:14:03Z") == 5, text
    assert "+00:00" not in text and ".123456" not in text


def test_progress_off_a_terminal_is_one_line_per_change():
    err = io.StringIO()
    with ProgressLine(err) as progress:
        progress("deployment d1 BUILDING")
        progress("deployment d1 ACTIVE")
    assert err.getvalue() == "deployment d1 BUILDING\ndeployment d1 ACTIVE\n"


def test_progress_on_a_terminal_rewrites_one_line_and_clears_it_at_the_end():
    err = Terminal()
    with ProgressLine(err) as progress:
        progress("deployment d1 BUILDING")
        progress("deployment d1 ACTIVE")
    shown = err.getvalue()
    assert "\n" not in shown
    assert shown == "\r\x1b[2Kdeployment d1 BUILDING\r\x1b[2Kdeployment d1 ACTIVE\r\x1b[2K"


def test_progress_disabled_by_quiet_prints_nothing_and_a_token_never_shows():
    quiet = io.StringIO()
    ProgressLine(quiet, enabled=False)("deployment d1 ACTIVE")
    assert quiet.getvalue() == ""
    err = io.StringIO()
    ProgressLine(err)("oops dop_v1_" + "a" * 64)
    assert "dop_v1_" not in err.getvalue()


def test_a_streamed_list_prints_the_same_document_as_the_whole_list():
    moment = datetime(2026, 12, 5, 8, 14, 3, tzinfo=UTC)
    items = [{"name": "a", "at": moment, "tags": ["x", {"y": 1}]}, {}, 3]
    document = {"store": "s", "items": items, "counts": {"valid": 2}, "none": []}
    whole, streamed = io.StringIO(), io.StringIO()
    print_json(document, whole)
    print_json({**document, "items": Streamed(iter(items)), "none": Streamed(iter([]))}, streamed)
    assert streamed.getvalue() == whole.getvalue()
    assert json.loads(streamed.getvalue())["items"][0]["at"] == "2026-12-05T08:14:03Z"
    top = io.StringIO()
    print_json(Streamed(item for item in items), top)
    assert json.loads(top.getvalue()) == json.loads(whole.getvalue())["items"]


def test_a_streamed_table_reads_its_rows_twice_and_prints_what_a_whole_table_prints():
    rows = [["prod", "valid", "a longer description"], ["x", "invalid", "-"]]
    passes = []

    def read() -> list[list[str]]:
        passes.append(1)
        return rows

    whole, streamed, empty = io.StringIO(), io.StringIO(), io.StringIO()
    print_table(["name", "status", "description"], rows, whole)
    print_table_streamed(["name", "status", "description"], read, streamed)
    assert streamed.getvalue() == whole.getvalue()
    assert streamed.getvalue().splitlines()[0].split() == ["NAME", "STATUS", "DESCRIPTION"]
    assert len(passes) == 2
    print_table_streamed(["name"], lambda: iter([]), empty)
    assert empty.getvalue() == "(none)\n"


def test_a_long_streamed_list_is_the_same_text_across_its_chunks():
    items = [{"n": n, "nested": [n, {"x": []}]} for n in range(250)]
    for document, streamed in (
        (items, Streamed(iter(items))),
        ({"items": items}, {"items": Streamed(iter(items))}),
    ):
        out = io.StringIO()
        print_json(streamed, out)
        assert out.getvalue() == json.dumps(document, indent=2) + "\n"
