"""The daemon's bounded worker pool: due items of every job run here, side by side.

``daemon.concurrency`` threads take items that were admitted against their
token's rate budget (:func:`rotator.digitalocean.budget.admit_fairly`). The
pool knows which items are running, keyed ``(job, item)``, so an item that is
still at work is never started a second time (a policy never rotates twice at
once in this process; the policy file lock keeps other processes out). A
worker that is slow or stuck on one destination holds only its own thread:
the main loop never waits for it, and every other free worker goes on.

Stopping: :meth:`WorkerPool.shutdown` drops what has not started and waits for
the running items, which see the stop flag (the stop-aware sleep raises, and
the HTTP guard's ``cancelled`` hook ends a request under way: every item runs
inside :func:`rotator.httpguard.bounded` with the pool's *cancelled*, so a
request any plugin sends through a guarded client ends at a stop too).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from rotator import httpguard

log = logging.getLogger(__name__)

STOP_ONLY = 365 * 24 * 3600.0  # seconds: the items' own deadlines are far shorter

Key = tuple[str, str]
"""``(job name, item name)``."""


class WorkerPool:
    """A fixed number of worker threads and the set of items at work on them."""

    def __init__(
        self,
        workers: int,
        *,
        cancelled: Callable[[], bool] | None = None,
        freed: Callable[[], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.workers = workers
        self._cancelled = cancelled
        self._freed = freed  # told after an item has left its worker (free counts it)
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="rotator-worker"
        )
        self._running: dict[Key, Future[None]] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._closed = False

    def __repr__(self) -> str:
        return f"WorkerPool(workers={self.workers}, running={len(self._running)})"

    @property
    def free(self) -> int:
        """Workers with nothing to do right now."""
        with self._lock:
            return max(0, self.workers - len(self._running))

    @property
    def at_work(self) -> int:
        """Items running now (after :meth:`shutdown`: those it had to leave)."""
        with self._lock:
            return len(self._running)

    def running(self, job: str) -> set[str]:
        """The items of *job* at work now."""
        with self._lock:
            return {item for (name, item) in self._running if name == job}

    def busy(self, job: str, item: str) -> bool:
        with self._lock:
            return (job, item) in self._running

    def submit(self, job: str, item: str, work: Callable[[], None]) -> bool:
        """Start *work* for ``(job, item)`` on a worker; False if it is running already."""
        key = (job, item)
        with self._lock:
            if self._closed or key in self._running:
                return False
            future = self._executor.submit(self._run, key, work)
            self._running[key] = future
        return True

    def _run(self, key: Key, work: Callable[[], None]) -> None:
        try:
            if self._cancelled is None:
                work()
            else:
                with httpguard.bounded(httpguard.Deadline(STOP_ONLY, cancelled=self._cancelled)):
                    work()
        except BaseException:  # the job's own handler logs; this keeps the worker alive
            log.debug("worker item %s/%s ended with an exception", *key, exc_info=True)
        finally:
            with self._lock:
                self._running.pop(key, None)
                self._idle.notify_all()
            if self._freed is not None:
                self._freed()

    def wait(self, job: str | None = None, *, timeout: float | None = None) -> bool:
        """Wait until no item (of *job*, if given) is running; False on *timeout*."""
        with self._lock:
            return self._idle.wait_for(
                lambda: not any(job is None or name == job for name, _ in self._running),
                timeout,
            )

    def wait_any(self, timeout: float) -> None:
        """Wait until some item finishes, or *timeout* seconds."""
        with self._lock:
            if self._running:
                self._idle.wait(timeout)

    def shutdown(self, *, timeout: float = 8.0) -> bool:
        """Start nothing new; wait up to *timeout* s for running items. True if all ended."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:  # items cancelled before they started never reach _run
            for key in [k for k, future in self._running.items() if future.cancelled()]:
                del self._running[key]
            self._idle.notify_all()
        done = self.wait(timeout=timeout)
        if not done:
            log.warning(
                "%d item(s) still at work after %.0fs; leaving them", len(self._running), timeout
            )
        return done
