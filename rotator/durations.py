"""Durations as operators write them: "90s", "15m", "1h", "30d", "1h30m"."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"(?:\d+[smhdw])+")


def parse_duration(text: object) -> timedelta:
    """Parse a duration string; raise ValueError with a helpful message."""
    if isinstance(text, timedelta):
        return text
    if not isinstance(text, str) or not _WHOLE.fullmatch(text.strip()):
        raise ValueError(
            f"invalid duration {text!r}: use a whole number and a unit s, m, h, d or w, "
            'such as "90s", "15m", "1h", "30d" or "1h30m"'
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text.strip()))
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest operator-style spelling of a duration, e.g. "1h30m"."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def describe_span(span: timedelta) -> str:
    """A span as a person says it: "3 days", "1 hour", "5 minutes" (at least a minute)."""
    if span >= timedelta(days=1):
        return f"{span.days} day{'s' if span.days != 1 else ''}"
    hours = int(span.total_seconds() // 3600)
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, int(span.total_seconds() // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
