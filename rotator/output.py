"""Human tables and JSON documents on stdout.

Every cell and field of a human table goes through :func:`rotator.logs.one_line`:
a value from a peer or the store (a description, a reason, an id) cannot break
a row or send escape sequences to the terminal. JSON needs no such care.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from rotator.logs import one_line


def print_json(document: Any, stream: TextIO) -> None:
    """Exactly one JSON document on stdout, nothing else."""
    stream.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


def when(moment: datetime | None, now: datetime | None = None) -> str:
    """A time as an operator reads it: UTC, to the second, with its age."""
    if moment is None:
        return "never"
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if now is not None:
        text += f" ({ago(now - moment)} ago)"
    return text


def ago(delta: Any) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], stream: TextIO) -> None:
    """A plain aligned table; an empty one says so."""
    if not rows:
        stream.write("(none)\n")
        return
    cells = [[str(h).upper() for h in headers]] + [
        ["" if c is None else one_line(str(c)) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        stream.write(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )


def print_fields(fields: Sequence[tuple[str, Any]], stream: TextIO) -> None:
    """Key: value lines, keys aligned."""
    width = max(len(key) for key, _ in fields)
    for key, value in fields:
        shown = "" if value is None else one_line(str(value))
        stream.write(f"{key + ':':<{width + 1}} {shown}\n")
