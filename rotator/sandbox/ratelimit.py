"""Per-token sliding-window rate limits, as DigitalOcean applies them.

Two windows per token: requests in the last minute (the burst limit,
DigitalOcean's documented 250) and in the last hour (5,000). Every
authenticated response carries ``ratelimit-limit`` (the hourly limit),
``ratelimit-remaining`` (left in the hour) and ``ratelimit-reset`` (Unix
time when the oldest request in the hour window expires); the minute is not
reported. A request that would exceed either window is refused with 429 and
``retry-after`` (whole seconds until a slot frees up); refused requests are
not counted, so a client that waits as told gets through.

Both limits can be changed while the sandbox runs (:meth:`RateLimiter.configure`),
and a token's hour can be pre-spent (:meth:`RateLimiter.spend`) so tests and
benchmarks can start from "15 of 200 left, reset in 50 minutes".
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

MINUTE = 60.0
HOUR = 3600.0


@dataclass(frozen=True)
class Verdict:
    """The outcome of one request against a token's windows."""

    allowed: bool
    headers: dict[str, str]
    retry_after: int | None = None


class RateLimiter:
    """Sliding windows per token fingerprint, behind its own lock."""

    def __init__(self, per_minute: int, per_hour: int, clock: Callable[[], float]) -> None:
        _check_limits(per_minute, per_hour)
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, list[float]] = {}

    def configure(self, per_minute: int | None = None, per_hour: int | None = None) -> None:
        """Change the limits from now on (None keeps one); requests already seen still count."""
        minute = self.per_minute if per_minute is None else per_minute
        hour = self.per_hour if per_hour is None else per_hour
        _check_limits(minute, hour)
        with self._lock:
            self.per_minute, self.per_hour = minute, hour

    def spend(self, token_key: str, calls: int, at: float) -> None:
        """Count *calls* requests of ``token_key`` as made at Unix time *at* (in the past)."""
        if calls < 0:
            raise ValueError("calls must not be negative")
        with self._lock:
            times = self._seen.setdefault(token_key, [])
            for _ in range(calls):
                bisect.insort(times, at)

    def used(self, token_key: str) -> tuple[int, int]:
        """Requests of ``token_key`` counted in the last minute and the last hour."""
        with self._lock:
            now = self.clock()
            times = self._seen.get(token_key, [])
            in_hour = len(times) - bisect.bisect_right(times, now - HOUR)
            return len(times) - bisect.bisect_right(times, now - MINUTE), in_hour

    def check(self, token_key: str) -> Verdict:
        """Count one request for ``token_key`` if the windows allow it."""
        with self._lock:
            now = self.clock()
            times = self._seen.setdefault(token_key, [])
            del times[: bisect.bisect_right(times, now - HOUR)]
            in_minute = len(times) - bisect.bisect_right(times, now - MINUTE)
            retry_after: float | None = None
            if in_minute >= self.per_minute:
                oldest_in_minute = times[len(times) - in_minute]
                retry_after = oldest_in_minute + MINUTE - now
            elif len(times) >= self.per_hour:
                retry_after = times[0] + HOUR - now
            if retry_after is None:
                times.append(now)
            headers = self._headers(times, now)
            if retry_after is None:
                return Verdict(True, headers)
            seconds = max(1, math.ceil(retry_after))
            return Verdict(False, {**headers, "retry-after": str(seconds)}, seconds)

    def _headers(self, times: list[float], now: float) -> dict[str, str]:
        reset = times[0] + HOUR if times else now
        return {
            "ratelimit-limit": str(self.per_hour),
            "ratelimit-remaining": str(max(0, self.per_hour - len(times))),
            "ratelimit-reset": str(math.ceil(reset)),
        }

    def forget(self) -> None:
        """Drop every window (tests that reset the sandbox)."""
        with self._lock:
            self._seen.clear()


def _check_limits(per_minute: int, per_hour: int) -> None:
    for name, value in (("per_minute", per_minute), ("per_hour", per_hour)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"the rate limit {name} must be a whole number of at least 1")
