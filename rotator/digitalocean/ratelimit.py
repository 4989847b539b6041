"""Slow a busy token down before DigitalOcean starts refusing it.

DigitalOcean allows each token 5,000 requests an hour (and 250 a minute) and
reports the hourly window on every answer: ``ratelimit-limit``,
``ratelimit-remaining`` and ``ratelimit-reset``, the Unix time at which the
oldest request in the window expires and frees a slot.

The :class:`Pacer` remembers the last report per token (keyed by the token's
fingerprint, never the token) and, before each request, hands out a start
time:

* While more than the reserve remains, a request starts at once. The reserve
  is ``reserve`` requests if given, else ``reserve_fraction`` (10%) of the
  reported limit, so 500 of 5,000.
* At or below the reserve, the remaining requests are spread evenly until the
  reset: each one starts ``(reset - start) / remaining`` after the
  previous one. Start times are handed out under a lock, one after the other, so many
  threads sharing a token queue up instead of all sleeping the same time and
  firing together.
* With nothing left, the next request waits for the reset, and the ones
  queued behind it go at the window's average rate (3,600 s / limit) until
  a fresh answer says more.
* A report whose reset has passed says nothing any more: once the queue it
  built has drained, requests start at once until a fresh answer arrives.

Why this shape: a token is shared with whatever else its owner runs, so
rotator cannot know the true budget; reacting to what the server reports is
the only honest source. Spreading the remainder over the time to the reset is
conservative (slots also free up as older requests expire), never leaves the
token idle when budget is plentiful, and keeps some calls for the
operator's own tools. The per-minute burst limit is not reported in headers;
the retry rules honour its ``retry-after`` instead.

The pacer only computes waits; the client sleeps (with its injected sleep)
and caps the wait by its retry budget, so the server always has the last word.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

WINDOW_SECONDS = 3600.0
"""Length of the window ``ratelimit-limit`` counts over (DigitalOcean: an hour)."""


@dataclass
class _Window:
    """What the last answer said about one token's hourly window."""

    limit: int
    remaining: int
    reset: float
    next_start: float = 0.0


class Pacer:
    """Per-token pacing from DigitalOcean's ``ratelimit-*`` headers; thread-safe.

    One pacer may serve many clients and threads. Keys are token fingerprints.
    """

    # Forget windows that have reset once this many tokens are tracked, so a
    # long-running daemon that sees many tokens does not grow without bound.
    _PRUNE_AT = 1024

    def __init__(self, *, reserve: int | None = None, reserve_fraction: float = 0.1) -> None:
        if reserve is not None and reserve < 0:
            raise ValueError("Pacer reserve must not be negative")
        if not 0.0 <= reserve_fraction <= 1.0:
            raise ValueError("Pacer reserve_fraction must be between 0 and 1")
        self._reserve = reserve
        self._reserve_fraction = reserve_fraction
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Pacer(reserve={self._reserve}, reserve_fraction={self._reserve_fraction})"

    def delay(self, key: str, now: float) -> float:
        """Seconds to wait before the next request for token *key*; claims its slot."""
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                return 0.0
            stale = window.reset <= now
            if stale and window.next_start <= now:
                return 0.0
            if not stale and window.remaining > self._threshold(window.limit):
                window.remaining -= 1
                return 0.0
            start = max(now, window.next_start)
            if stale or window.remaining <= 0:
                # Spent: wait for the reset, then go at the window's average
                # rate (one request per slot freed) until a fresh answer.
                start = max(start, window.reset)
                spacing = WINDOW_SECONDS / max(window.limit, 1)
            else:
                spacing = max(window.reset - start, 0.0) / window.remaining
            window.next_start = start + spacing
            window.remaining = max(0, window.remaining - 1)
            return start - now

    def observe(self, key: str, headers: Mapping[str, str], now: float) -> None:
        """Record the ``ratelimit-*`` headers of an answer for token *key*.

        Answers without all three readable headers are ignored.
        """
        limit = _integer(headers.get("ratelimit-limit"))
        remaining = _integer(headers.get("ratelimit-remaining"))
        reset = _integer(headers.get("ratelimit-reset"))
        if limit is None or remaining is None or reset is None:
            return
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) >= self._PRUNE_AT:
                    self._prune(now)
                self._windows[key] = _Window(limit, max(remaining, 0), float(reset))
            else:
                window.limit, window.remaining, window.reset = limit, max(remaining, 0), reset

    def _threshold(self, limit: int) -> int:
        if self._reserve is not None:
            return self._reserve
        return max(1, math.ceil(limit * self._reserve_fraction))

    def _prune(self, now: float) -> None:
        for key in [key for key, window in self._windows.items() if window.reset <= now]:
            del self._windows[key]


def _integer(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
