"""When each item is due: from the store's last times, a per-name jitter, and retry backoff.

Due times are worked out from what the store remembers (a connection's
``last_validated_at``, a scope report's ``audited_at``, a policy's
``current_since``), never from when the daemon happened to start, so a
restart neither skips nor repeats work.

Jitter: a periodic item is due ``interval - jitter(name)`` after it was last
done, where ``jitter`` is a fixed share (below :data:`JITTER_FRACTION`) of the
interval taken from the SHA-256 of its name. Items registered at the same
moment therefore drift apart by a different amount every cycle and spread
over the whole interval instead of hitting DigitalOcean together, and none
waits longer than its interval.

Backoff: an item that failed is retried sooner than its interval would say,
but never in a busy loop: 30 s, then doubling, capped at the interval and at
an hour. It lives in memory only: after a restart a failed item is simply
due again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

JITTER_FRACTION = 0.1
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)


def jitter(name: str, interval: timedelta, fraction: float = JITTER_FRACTION) -> timedelta:
    """A fixed offset in ``[0, fraction * interval)``, the same for *name* on every run."""
    digest = hashlib.sha256(name.encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return interval * (fraction * share)


def periodic_due(name: str, last: datetime | None, interval: timedelta, now: datetime) -> datetime:
    """When an item done every *interval* is next due; *now* if it was never done."""
    if last is None:
        return now
    return last + interval - jitter(name, interval)


@dataclass
class _Failures:
    count: int
    until: datetime


@dataclass
class Backoff:
    """Retry times for items whose last attempt failed (in memory only)."""

    first: timedelta = FIRST_RETRY
    maximum: timedelta = MAX_RETRY
    _failing: dict[str, _Failures] = field(default_factory=dict)

    def failed(self, key: str, now: datetime, interval: timedelta) -> datetime:
        """Note a failure; return when to try again."""
        count = self._failing[key].count + 1 if key in self._failing else 1
        delay = min(self.first * (1 << min(count - 1, 20)), self.maximum, interval)
        self._failing[key] = _Failures(count, now + delay)
        return now + delay

    def defer(self, key: str, until: datetime) -> None:
        """Not before *until* (another replica holds the item's lease until then)."""
        failures = self._failing.get(key)
        self._failing[key] = _Failures(failures.count if failures else 0, until)

    def succeeded(self, key: str) -> None:
        self._failing.pop(key, None)

    def until(self, key: str) -> datetime | None:
        """When a failing item may be tried again, or None when it is not failing."""
        failures = self._failing.get(key)
        return failures.until if failures else None

    def due(self, key: str, normally: datetime) -> datetime:
        """The retry time while *key* is failing (sooner or later than usual), else *normally*."""
        until = self.until(key)
        return normally if until is None else until
