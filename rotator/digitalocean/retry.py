"""When a failed DigitalOcean request is tried again, and how long to wait.

The rules (the same ones godo gets from go-retryablehttp, made stricter for
requests that change things):

* Retry only what may succeed next time: no HTTP answer at all, a 5xx, or a
  429. Any other 4xx is an answer about the request itself and is final.
* A request that is not idempotent (POST, PATCH, or any call flagged so) may
  run twice if repeated after it reached the server. It is repeated only
  when it provably never got there (the connection was never made, or no
  pooled connection was free) or was refused with 429, which DigitalOcean
  sends before doing any work.
* Backoff is exponential with full jitter (a random wait between zero and
  the capped exponential), so clients that failed together do not retry
  together.
* A 429 names its own wait: ``retry-after`` (seconds or an HTTP date), else
  ``ratelimit-reset`` (Unix time when a slot frees). If that wait is longer
  than ``max_delay`` or than what is left of ``max_total_wait``, waiting is
  pointless: the caller gets the 429 at once, with ``retry_after`` set.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""RFC 9110 idempotent methods: repeating one leaves the same state."""

# The request never left this machine, so even a POST may be sent again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# A programming or configuration mistake: the next attempt fails the same way.
_PERMANENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets and how long it may wait between them."""

    attempts: int = 4
    """Attempts in all, the first included; 1 disables retries."""
    base_delay: float = 0.5
    """Backoff ceiling before the first retry, doubled for each one after."""
    max_delay: float = 30.0
    """Longest single wait."""
    max_total_wait: float = 60.0
    """Longest time one request may spend waiting, pacing included."""
    deadline: float = 60.0
    """Longest time one request may take in all: every attempt and every backoff wait.

    Each attempt also has the client's own timeout; retries stop, and a wait
    is cut short, when this runs out, so retrying never multiplies it. The
    wait for the rate budget's next slot (pacing) is not counted: the
    client's ``rate_wait`` bounds it, and a request paced for a minute still
    gets its whole deadline for the answer.
    """

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_total_wait) < 0:
            raise ValueError("RetryPolicy delays must not be negative")
        if not self.deadline > 0:
            raise ValueError("RetryPolicy.deadline must be positive")

    def backoff(self, retry_number: int, rng: Callable[[], float]) -> float:
        """Full-jitter wait before retry number *retry_number* (1 for the first)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry_number - 1))
        return rng() * ceiling


def may_retry_exception(exc: httpx.RequestError, *, idempotent: bool) -> bool:
    """Whether a request that failed with *exc* (no HTTP answer) may be sent again."""
    if isinstance(exc, _NOT_SENT):
        return True
    if isinstance(exc, _PERMANENT) or not isinstance(exc, httpx.TransportError):
        return False
    # Read timeouts and dropped connections: the server may have acted.
    return idempotent


def may_retry_status(status: int, *, idempotent: bool) -> bool:
    """Whether a request answered with *status* may be sent again."""
    if status == 429:
        return True
    return status >= 500 and idempotent


def required_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds a 429 asks us to wait, from ``retry-after`` or ``ratelimit-reset``.

    None when neither header is present and readable; never negative.
    """
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        wait = _parse_retry_after(retry_after.strip(), now)
        if wait is not None:
            return max(0.0, wait)
    reset = headers.get("ratelimit-reset")
    if reset is not None:
        try:
            reset_at = float(reset.strip())
        except ValueError:
            return None
        if math.isfinite(reset_at):
            return max(0.0, reset_at - now)
    return None


def _parse_retry_after(value: str, now: float) -> float | None:
    """``retry-after`` is either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a zoneless one is read as such
        return when.replace(tzinfo=UTC).timestamp() - now
    return when.timestamp() - now
