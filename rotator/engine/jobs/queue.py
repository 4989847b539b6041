"""A concurrent job's queue of due items: listed once, taken from as workers free up.

Listing every item's due time is one pass over every connection or policy.
A job lists them once and keeps the items due by then as a queue, oldest
first; each worker that frees up takes the next startable one from it
(``--once`` at once, the daemon's loop through
:meth:`~rotator.engine.jobs.concurrent.ConcurrentJob.refill`), and an item
leaves the queue when it starts. Reading every due time again for each
freed worker made one run cost O(items²) store reads on the main thread (an
audit of 200 tokens in token-info mode spent more time there than on the
network).

A queue answers only for what it was listed for: the configuration (a
reload lists again, so no item of the old config starts under the new one),
the subset a resume asked for, and :data:`REFRESH` seconds at most (what the
CLI or another replica changed meanwhile shows up at the next listing). An
item deferred after it left (its token's rate limit, a lease another
replica holds, a rotation waiting for its deployment, a retry after a
failure) goes back in at the time it may start.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rotator.engine.jobs.base import Runtime

REFRESH = 10.0
"""Seconds a queue is used before the due items are listed again."""


def _order(pair: tuple[str, datetime]) -> tuple[datetime, str]:
    return pair[1], pair[0]


class DueQueue:
    """Items due when last listed, oldest first, with what they were listed for."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: list[tuple[str, datetime]] = []
        self._names: set[str] = set()
        self._for: tuple[Runtime, frozenset[str] | None] | None = None
        self._listed = 0.0
        self._lock = threading.Lock()

    def fresh(self, runtime: Runtime, only: Collection[str] | None) -> bool:
        """Whether the queue was listed for *runtime* and *only*, less than REFRESH s ago."""
        with self._lock:
            return (
                self._for is not None
                and self._for[0] is runtime  # identity: a reload lists again
                and self._for[1] == _subset(only)
                and self._clock() - self._listed <= REFRESH
            )

    def items(self) -> list[tuple[str, datetime]]:
        """The queued items with the time each may start by its own due time, oldest first."""
        with self._lock:
            return list(self._items)

    def fill(
        self,
        items: Iterable[tuple[str, datetime]],
        runtime: Runtime,
        only: Collection[str] | None,
    ) -> None:
        """Replace the queue with a fresh listing of what *runtime* (and *only*) has due."""
        listed = sorted(items, key=_order)
        with self._lock:
            self._items = listed
            self._names = {item for item, _ in listed}
            self._for = (runtime, _subset(only))
            self._listed = self._clock()

    def take(self, started: Collection[str]) -> None:
        """*started* run now: they leave the queue."""
        if not started:
            return
        with self._lock:
            self._items = [(item, when) for item, when in self._items if item not in started]
            self._names.difference_update(started)

    def put_back(self, item: str, when: datetime) -> None:
        """*item* (deferred after it started) may start again at *when*."""
        with self._lock:
            if self._for is None or item in self._names:
                return
            bisect.insort(self._items, (item, when), key=_order)
            self._names.add(item)


def _subset(only: Collection[str] | None) -> frozenset[str] | None:
    return None if only is None else frozenset(only)
