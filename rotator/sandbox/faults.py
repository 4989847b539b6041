"""Fault injection: make chosen requests fail, stall, vanish, or kill their client.

A :class:`Fault` matches on method, path (a regular expression that must
match the whole path) and token; faults are tried in the order they were
added and the first match fires, at most ``times`` times (None: forever).

What a fault does:

- ``status`` (and optional ``body``/``headers``/``retry_after``): answer with
  that instead. ``retry_after`` alone implies 429.
- ``delay``: wait that many seconds before answering.
- ``drop``: close the connection without any answer.
- ``after``: let the request be processed normally first (state changes
  happen), *then* apply status/drop: the "it worked but the answer was lost"
  case.
- ``kill_pid``: after the response is fully written and flushed, send
  ``kill_signal`` to that process (a test kills its client right after a
  mutating request succeeded). The request itself is processed normally.
"""

from __future__ import annotations

import re
import signal
import threading
from dataclasses import dataclass, field
from typing import Any

from rotator.sandbox.tokens import token_hash


@dataclass
class Fault:
    """One injected fault and how many more times it fires."""

    method: str | None = None
    path: str | None = None
    token_sha256: str | None = None
    times: int | None = 1
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    kill_pid: int | None = None
    kill_signal: int = signal.SIGKILL
    after: bool = False
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.method is not None:
            self.method = self.method.upper()
        self._pattern = re.compile(self.path) if self.path is not None else None
        if self.retry_after is not None and self.status is None:
            self.status = 429
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1 (or None for always)")

    @property
    def answers(self) -> bool:
        """Whether the fault replaces the real answer (status or drop)."""
        return self.status is not None or self.drop

    def matches(self, method: str, path: str, token_sha256: str | None) -> bool:
        """Whether this fault applies to the request."""
        if self.method is not None and self.method != method:
            return False
        if self._pattern is not None and self._pattern.fullmatch(path) is None:
            return False
        return self.token_sha256 is None or self.token_sha256 == token_sha256

    def describe(self) -> dict[str, Any]:
        """A JSON view of the fault (no token, only whether one is set)."""
        return {
            "method": self.method,
            "path": self.path,
            "token": self.token_sha256 is not None,
            "times": self.times,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "drop": self.drop,
            "kill_pid": self.kill_pid,
            "after": self.after,
        }


def make_fault(token: str | None = None, **options: Any) -> Fault:
    """A fault from keyword options; a token given in clear is kept only as its hash."""
    return Fault(token_sha256=token_hash(token) if token else None, **options)


class FaultBook:
    """The ordered list of armed faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Arm a fault after the ones already armed."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, token_sha256: str | None) -> Fault | None:
        """The first fault matching the request, counting one firing."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, token_sha256):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
            return None

    def armed(self) -> list[dict[str, Any]]:
        """JSON views of the armed faults."""
        with self._lock:
            return [f.describe() for f in self._faults]
