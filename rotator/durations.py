"""Durations as operators write them: "90s", "15m", "1h", "30d", "1h30m"."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"([0-9]+)([smhdw])")
_WHOLE = re.compile(r"(?:[0-9]+[smhdw])+")

MAX_DURATION = timedelta(days=36500)
"""About 100 years: longer is a typo, and a date that far ahead overflows."""

_HELP = (
    'use a whole number and a unit s, m, h, d or w, such as "90s", "15m", "1h", "30d" or "1h30m"'
)


def _shown(text: object) -> str:
    """The value as quoted in an error: short, one line, whatever it holds."""
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def parse_duration(text: object) -> timedelta:
    """Parse a duration string; raise ValueError with a helpful one-line message."""
    if isinstance(text, timedelta):  # from code, not an operator: only the upper bound
        if text > MAX_DURATION:
            raise ValueError(f"invalid duration {_shown(text)}: longer than 100 years")
        return text
    if not isinstance(text, str) or not _WHOLE.fullmatch(text.strip()):
        raise ValueError(f"invalid duration {_shown(text)}: {_HELP}")
    limit = int(MAX_DURATION.total_seconds())
    seconds = 0
    for number, unit in _PART.findall(text.strip()):
        # More digits than the limit has would only overflow; stop before int() does.
        if len(number.lstrip("0")) > 12:
            seconds = limit + 1
            break
        seconds += int(number) * _UNITS[unit]
    if seconds <= 0:
        raise ValueError(f"invalid duration {_shown(text)}: must be longer than zero")
    if seconds > limit:
        raise ValueError(
            f"invalid duration {_shown(text)}: longer than the maximum "
            f"{format_duration(MAX_DURATION)} (100 years)"
        )
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
