"""Virtual time for threads: the clock moves only when every worker is asleep.

Each worker sleeps with :meth:`VirtualTime.sleep`; when all of them are
asleep (or finished) the clock jumps to the earliest wake-up and that one
worker runs on. Real work in between (HTTP to the sandbox) takes no virtual
time, so tests about rate limits run in milliseconds and never depend on the
machine's speed. Every wait for a turn has a real deadline.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable

TURN_DEADLINE = 30.0


class VirtualTime:
    """A shared clock for *workers* threads (see the module docstring)."""

    def __init__(self, start: float, workers: int) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._running = workers
        self._wakes: list[tuple[float, int]] = []
        self._released: set[int] = set()
        self._numbers = itertools.count()
        self._condition = threading.Condition()

    def clock(self) -> float:
        with self._condition:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._condition:
            self.sleeps.append(seconds)
            number = next(self._numbers)
            heapq.heappush(self._wakes, (self.now + seconds, number))
            self._running -= 1
            self._advance()
            released = self._condition.wait_for(
                lambda: number in self._released, timeout=TURN_DEADLINE
            )
            if not released:
                raise TimeoutError("virtual time: no turn came")
            self._released.discard(number)

    def done(self) -> None:
        """A worker has finished: it no longer holds the clock back."""
        with self._condition:
            self._running -= 1
            self._advance()

    def _advance(self) -> None:
        if self._running == 0 and self._wakes:
            wake, number = heapq.heappop(self._wakes)
            self.now = max(self.now, wake)
            self._released.add(number)
            self._running += 1
            self._condition.notify_all()


def run_workers(time: VirtualTime, work: list[Callable[[], None]]) -> list[BaseException]:
    """Run each callable on its own thread under *time*; the errors they raised."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # collected and asserted on by the test
            with lock:
                errors.append(exc)
        finally:
            time.done()

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TURN_DEADLINE * 4)
        assert not thread.is_alive(), "a worker never finished"
    return errors
