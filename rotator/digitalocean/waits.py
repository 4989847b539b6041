"""What a caller of :class:`~rotator.digitalocean.budget.RateBudget` holds and hears.

How long it may wait (:class:`RateWait`), and what admission and
acquisition answer: a :class:`Ticket` to send one request, a
:class:`Refusal`, an :class:`Admission` with its :class:`Reservation` of
hourly calls, and the :class:`~rotator.errors.RateLimited` a refused request
raises. The budget itself is :mod:`rotator.digitalocean.budget`.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

from rotator.errors import RateLimited

if TYPE_CHECKING:
    from rotator.digitalocean.budget import RateBudget

MINUTE = 60.0
"""Length of the burst window (DigitalOcean: a minute)."""
HOUR = 3600.0
"""Length of the window ``ratelimit-limit`` counts over (DigitalOcean: an hour)."""


# -- how long a caller may wait ------------------------------------------------------


class RateWait:
    """How long one command (or one daemon item) may still wait on rate limits.

    *total* is the sum of every rate-limit wait across all the requests it
    covers (None: no total); *per_request* caps each single wait (None: no
    cap). ``RateWait(total=0)`` never waits: the first request that would
    have to wait is refused with the time it could go. Thread-safe: one
    command's threads may share one.
    """

    def __init__(self, total: float | None = None, *, per_request: float | None = None) -> None:
        for name, value in (("total", total), ("per_request", per_request)):
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"RateWait {name} must be a non-negative number of seconds")
        self._total = total
        self._left = total
        self._per_request = per_request
        self._lock = threading.Lock()

    @classmethod
    def never(cls) -> RateWait:
        """Never wait on a rate limit: refuse at once with the time it could go."""
        return cls(total=0.0)

    def __repr__(self) -> str:
        return f"RateWait(total={self._total}, per_request={self._per_request}, left={self._left})"

    @property
    def total(self) -> float | None:
        """The total the wait started with (None: no total)."""
        return self._total

    @property
    def left(self) -> float:
        """Seconds the next single wait may take (``math.inf`` when unbounded)."""
        with self._lock:
            left = math.inf if self._left is None else self._left
        cap = math.inf if self._per_request is None else self._per_request
        return max(0.0, min(left, cap))

    def spend(self, seconds: float) -> None:
        """Count *seconds* waited against the total."""
        if seconds <= 0:
            return
        with self._lock:
            if self._left is not None:
                self._left = max(0.0, self._left - seconds)


# -- what admission and acquisition answer -----------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Not now: the calls fit no earlier than ``not_before`` (Unix time)."""

    key: str
    not_before: float

    @property
    def granted(self) -> bool:
        return False

    def message(self) -> str:
        """The one line a user reads, naming when the budget resets (HH:MM UTC)."""
        return f"rate limit: budget for token {self.key} resets at {clock_time(self.not_before)}"


@dataclass(frozen=True)
class Ticket:
    """One request's place in its token's budget: send it at ``start``."""

    key: str
    start: float
    delay: float
    _slot: int = field(repr=False)
    _serial: int = field(repr=False)

    @property
    def granted(self) -> bool:
        return True


class Reservation:
    """Calls of a token's hourly budget held for one piece of admitted work.

    Requests made with it draw on it first. :meth:`release` (or leaving its
    ``with`` block) gives back what is left; :meth:`adjust` changes how much
    is held. Thread-safe through its budget's lock.
    """

    def __init__(self, budget: RateBudget, key: str, calls: int) -> None:
        self._budget = budget
        self.key = key
        self._left = calls
        self._shared: int | None = None  # where the shared budget (if any) took its calls

    def __repr__(self) -> str:
        return f"Reservation(key={self.key!r}, left={self._left})"

    @property
    def left(self) -> int:
        """Calls still held."""
        return self._left

    def release(self) -> None:
        """Give back every call still held (the work ended or failed). Idempotent."""
        self._budget._adjust(self, 0, None)

    def adjust(self, calls: int, now: float) -> bool:
        """Hold *calls* from *now* on; False (and no change) if more do not fit now."""
        if calls < 0:
            raise ValueError("a reservation cannot hold a negative number of calls")
        return self._budget._adjust(self, calls, now)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


@dataclass(frozen=True)
class Admission:
    """The answer to :meth:`RateBudget.admit`.

    Granted: ``reservation`` holds the calls; start after ``delay`` seconds
    (``not_before`` is then ``now + delay``). Refused: ``reservation`` is
    None and ``not_before`` is the earliest time the calls will fit.
    """

    key: str
    calls: int
    granted: bool
    not_before: float
    delay: float
    reservation: Reservation | None

    def message(self) -> str:
        """The one line a user reads when the work cannot start."""
        return Refusal(self.key, self.not_before).message()


def clock_time(unix_time: float) -> str:
    """``14:05 UTC`` for a Unix time (rounded up to the minute: never too early)."""
    if not math.isfinite(unix_time):
        return "an unknown time"
    try:
        moment = datetime.fromtimestamp(math.ceil(unix_time / 60.0) * 60.0, UTC)
    except (OverflowError, OSError, ValueError):  # past what a datetime holds (a hostile reset)
        return "an unknown time"
    return moment.strftime("%H:%M UTC")


def refused_error(refusal: Refusal, now: float, *, method: str = "", path: str = "") -> RateLimited:
    """The :class:`RateLimited` a caller raises for a request the budget refused.

    Its text is the refusal's one line (nothing was sent, so it does not say
    "DigitalOcean answered"); ``retry_after`` is the seconds until
    ``not_before``, and ``not_before`` (Unix time) is set on the instance.
    """
    error = RateLimited(
        429,
        refusal.message(),
        method=method,
        path=path,
        retry_after=max(0.0, refusal.not_before - now),
    )
    suffix = f" ({method} {path} not sent)" if method else ""
    error.args = (refusal.message() + suffix,)
    set_not_before(error, refusal.not_before)
    return error


def set_not_before(error: RateLimited, unix_time: float) -> None:
    """Record on *error* the time its token's budget allows the call again."""
    # RateLimited has no such attribute yet; errors.py belongs to the base layer.
    error.not_before = unix_time  # type: ignore[attr-defined]


def not_before(error: RateLimited, now: float) -> float:
    """When the call refused with *error* may be tried again (Unix time).

    The time the budget named if it did; else ``now + retry_after``; else *now*
    plus a minute (a 429 that named no wait: the burst window).
    """
    named = getattr(error, "not_before", None)
    if isinstance(named, float | int):
        return float(named)
    if error.retry_after is not None:
        return now + error.retry_after
    return now + MINUTE
