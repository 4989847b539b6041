"""Counters of what a DigitalOcean client did, for benchmarks and metrics."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace


def status_class(status: int | None) -> str:
    """``2xx``, ``3xx``, ``4xx``, ``429``, ``5xx``, or ``transport`` (no answer: None)."""
    if status is None:
        return "transport"
    return "429" if status == 429 else f"{status // 100}xx"


@dataclass
class ClientStats:
    """Requests sent, 429s seen, retries and time spent waiting.

    One instance may be shared by many clients on many threads (a benchmark
    totals a thread pool's work), so every update takes a lock. Read a
    consistent copy with :meth:`snapshot`.
    """

    calls: int = 0
    """HTTP requests sent, retries included."""
    rate_limited: int = 0
    """429 answers received."""
    retries: int = 0
    """Requests repeated after a transient failure."""
    transport_errors: int = 0
    """Requests that got no HTTP answer (timeout, refused, dropped)."""
    waited_seconds: float = 0.0
    """Time slept by pacing and retry backoff together."""
    answers: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    """Requests by (token fingerprint, :func:`status_class` of the answer)."""
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def add(
        self,
        *,
        calls: int = 0,
        rate_limited: int = 0,
        retries: int = 0,
        transport_errors: int = 0,
        waited_seconds: float = 0.0,
    ) -> None:
        """Add to the counters atomically."""
        with self._lock:
            self.calls += calls
            self.rate_limited += rate_limited
            self.retries += retries
            self.transport_errors += transport_errors
            self.waited_seconds += waited_seconds

    def answered(self, fingerprint: str, status: int | None) -> None:
        """Count one request made with a token, by its answer's status (None: no answer)."""
        key = (fingerprint, status_class(status))
        with self._lock:
            self.answers[key] = self.answers.get(key, 0) + 1

    def snapshot(self) -> ClientStats:
        """A copy of the counters taken under the lock."""
        with self._lock:
            return replace(self, answers=dict(self.answers))
