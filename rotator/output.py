"""Human tables and JSON documents on stdout; warnings and progress lines on stderr.

Every time rotator prints is in one format, ISO 8601 UTC to the second with
a ``Z`` (``2026-12-05T08:14:03Z``): :func:`stamp` writes it for tables and
:func:`print_json` rewrites every timestamp of a JSON document to it, so a
table or a document never mixes two spellings of a time.

Every cell and field of a human table, every warning, note and progress line goes
through :func:`rotator.logs.one_line`: a value from a peer or the store (a
description, a reason, an id) cannot break a row or send escape sequences to the
terminal. JSON needs no such care.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from rotator.logs import one_line, redact

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""The one way rotator prints a time (ISO 8601, UTC, seconds, ``Z``)."""

# An ISO 8601 time with a date, a time and an offset, as datetime.isoformat() writes it.
_ISO_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})"
)


def stamp(moment: datetime | str | None) -> str:
    """*moment* in :data:`TIMESTAMP_FORMAT`; an ISO string is parsed first; None is ``-``."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        parsed = _parse(moment)
        if parsed is None:
            return moment
        moment = parsed
    if moment.tzinfo is None:  # the store writes aware UTC; a naive time is taken as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def _parse(text: str) -> datetime | None:
    if not _ISO_TIMESTAMP.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def when(moment: datetime | None, now: datetime | None = None) -> str:
    """A time as an operator reads it: :func:`stamp`, with its age when *now* is given."""
    if moment is None:
        return "never"
    text = stamp(moment)
    if now is not None:
        text += f" ({ago(now - moment)} ago)"
    return text


def ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def timestamps_normalised(document: Any) -> Any:
    """*document* with every datetime, and every string that is an ISO timestamp, stamped."""
    if isinstance(document, datetime):
        return stamp(document)
    if isinstance(document, str):
        return stamp(document) if _parse(document) is not None else document
    if isinstance(document, dict):
        return {key: timestamps_normalised(value) for key, value in document.items()}
    if isinstance(document, list | tuple):
        return [timestamps_normalised(value) for value in document]
    return document


class Streamed:
    """A list inside a :func:`print_json` document, written item by item as *items* yields.

    Memory stays bounded by one item however long the list: a fleet's
    connections are printed as they are read from the store.
    """

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items


def print_json(document: Any, stream: TextIO) -> None:
    """Exactly one JSON document on stdout, nothing else; times as :func:`stamp` writes them.

    :class:`Streamed` lists (at the top or as values of a top-level object) are
    written as they come; the text is the same as ``json.dumps(indent=2)`` of
    the whole document.
    """
    _write_json(document, stream, 0)
    stream.write("\n")


_ENCODER = json.JSONEncoder(indent=2, sort_keys=False, default=str)
_CHUNK = 100  # items encoded per call: the pure-Python indenting encoder costs per call


def _dumps(value: Any, level: int) -> str:
    text = _ENCODER.encode(timestamps_normalised(value))
    return text.replace("\n", "\n" + "  " * level) if level else text


def _write_json(value: Any, stream: TextIO, level: int) -> None:
    if isinstance(value, Streamed):
        _write_items(iter(value.items), stream, level)
    elif isinstance(value, dict) and any(isinstance(v, Streamed) for v in value.values()):
        inner = "\n" + "  " * (level + 1)
        for number, (key, item) in enumerate(value.items()):
            stream.write(("," if number else "{") + inner + json.dumps(key) + ": ")
            _write_json(item, stream, level + 1)
        stream.write("\n" + "  " * level + "}")
    else:
        stream.write(_dumps(value, level))


def _write_items(items: Iterator[Any], stream: TextIO, level: int) -> None:
    """A JSON array at *level*, *items* encoded a chunk at a time, each chunk as it comes."""
    indent = "  " * level
    opened = False
    while chunk := [timestamps_normalised(item) for item in itertools.islice(items, _CHUNK)]:
        body = _ENCODER.encode(chunk)[2:-2]  # "[\n  a,\n  b\n]" -> "  a,\n  b"
        if level:
            body = indent + body.replace("\n", "\n" + indent)
        stream.write(("," if opened else "[") + "\n" + body)
        opened = True
    stream.write("\n" + indent + "]" if opened else "[]")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], stream: TextIO) -> None:
    """A plain aligned table; an empty one says so. Times in cells are stamped."""
    print_table_streamed(headers, lambda: rows, stream)


def print_table_streamed(
    headers: Sequence[str], rows: Callable[[], Iterable[Sequence[Any]]], stream: TextIO
) -> None:
    """:func:`print_table` of rows read twice from *rows* (once for the widths), never kept.

    Memory stays bounded by one row however long the table; the cost is a
    second read (of the store, for a fleet's connections).
    """
    title = [str(h).upper() for h in headers]
    widths = [len(h) for h in title]
    empty = True
    for row in rows():
        empty = False
        for number, cell in enumerate(row):
            widths[number] = max(widths[number], len(_cell(cell)))
    if empty:
        stream.write("(none)\n")
        return
    _write_row(title, widths, stream)
    for row in rows():
        _write_row([_cell(c) for c in row], widths, stream)


def _write_row(cells: Sequence[str], widths: Sequence[int], stream: TextIO) -> None:
    stream.write("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return stamp(value)
    return one_line(restamped(str(value)))


def restamped(text: str) -> str:
    """*text* with every ISO timestamp in it (``revoke_after=2026-...+00:00``) stamped."""
    return _ISO_TIMESTAMP.sub(lambda found: stamp(found.group()), text)


def print_fields(fields: Sequence[tuple[str, Any]], stream: TextIO) -> None:
    """Key: value lines, keys aligned."""
    width = max(len(key) for key, _ in fields)
    for key, value in fields:
        stream.write(f"{key + ':':<{width + 1}} {_cell(value)}\n")


def warn(stream: TextIO, text: str, *, quiet: bool = False) -> None:
    """A ``warning: ...`` line on stderr, unless ``-q`` asked for errors only."""
    if not quiet:
        stream.write(f"warning: {one_line(redact(text))}\n")


def note(stream: TextIO, text: str, *, quiet: bool = False) -> None:
    """A ``note: ...`` line on stderr (something not checked, not a problem), unless ``-q``."""
    if not quiet:
        stream.write(f"note: {one_line(redact(text))}\n")


class ProgressLine:
    """Phase changes of a long wait, on stderr, never on stdout (which carries the result).

    On a terminal, one line rewritten in place (carriage return) and cleared
    at the end; elsewhere (a pipe, a log file, CI) one line per change. A
    disabled one (``-q``) prints nothing.
    """

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = _isatty(stream)
        self._shown = False

    def __call__(self, text: str) -> None:
        if not self.enabled:
            return
        line = one_line(redact(text))
        if self.tty:
            self.stream.write(f"\r\x1b[2K{line}")
            self._shown = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Clear the updating line (a terminal only), so the result starts on a clean line."""
        if self._shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False
