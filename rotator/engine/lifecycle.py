"""Signals, stop requests and stop-aware waits for ``rotator run``.

SIGTERM and SIGINT ask the daemon to stop: every wait made through
:meth:`Lifecycle.sleep` (deployment polling, API backoff) then raises
:class:`StopRequested`, so the step under way ends at its next wait and its
state stays in the store to resume at the next start. If the step has not
ended after :data:`HARD_STOP_AFTER` seconds (an HTTP request that hangs until
its timeout), or a second stop signal arrives, :class:`StopRequested` is
raised in the main thread wherever it is; the store is crash-safe, so that
is never worse than a kill. SIGHUP asks for a config reload.

Why the handlers do nothing themselves: Python runs them in the main thread
between bytecodes, possibly while that thread holds the lock inside a
``threading.Event``, and setting the event there would deadlock. So the
C-level wakeup fd carries each signal's number to a watcher thread, and that
thread sets ordinary events any thread may wait on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RELOAD_SIGNAL = signal.SIGHUP
# Sent by the watcher to the main thread to interrupt a step that will not end (SIGUSR2,
# not SIGALRM: that one belongs to whoever uses alarm(), pytest-timeout for one).
INTERRUPT_SIGNAL = signal.SIGUSR2
HARD_STOP_AFTER = 8.0  # seconds: inside the 10 s that systemd and Docker commonly allow
HEARTBEAT_EVERY = 5.0


class StopRequested(Exception):
    """The daemon was asked to stop; raised out of a wait so the current step ends now."""


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Installed so the signal neither kills the process nor raises KeyboardInterrupt."""


class Lifecycle:
    """Stop and reload requests, and waits that a stop request cuts short."""

    def __init__(
        self,
        *,
        hard_stop_after: float = HARD_STOP_AFTER,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_every: float = HEARTBEAT_EVERY,
        on_stop: Callable[[], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stop = threading.Event()
        self.reload = threading.Event()
        self._wake = threading.Event()
        self._owner = threading.current_thread()  # only its sleeps beat the heartbeat
        # A plain flag, not an Event: the SIGUSR2 handler reads it and must take no lock.
        self._done = False
        self._interrupt_lock = threading.Lock()
        self._hard_stop_after = hard_stop_after
        self._heartbeat = heartbeat or (lambda: None)
        self._heartbeat_every = heartbeat_every
        self._on_stop = on_stop or (lambda: None)
        self._monotonic = monotonic
        self._main_thread = threading.main_thread().ident
        self._pipe: tuple[int, int] | None = None
        self._previous_fd = -1
        self._previous: dict[int, Any] = {}
        self._watcher: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # -- installing ----------------------------------------------------------------

    def install(self) -> None:
        """Take over the stop and reload signals (call from the main thread)."""
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)  # the C handler must never block
        self._pipe = (read_end, write_end)
        self._previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        for signum in (*STOP_SIGNALS, RELOAD_SIGNAL):
            self._previous[signum] = signal.signal(signum, _ignore)
        self._previous[INTERRUPT_SIGNAL] = signal.signal(INTERRUPT_SIGNAL, self._interrupt)
        self._watcher = threading.Thread(target=self._watch, name="rotator-signals", daemon=True)
        self._watcher.start()

    def uninstall(self) -> None:
        """Give the signals back; after this no interrupt reaches the main thread."""
        self.disarm()
        if self._pipe is None:
            return
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        read_end, write_end = self._pipe
        os.close(write_end)  # the watcher reads end-of-file and returns
        if self._watcher is not None:
            self._watcher.join(timeout=1.0)
        os.close(read_end)
        self._pipe = None

    def __enter__(self) -> Lifecycle:
        self.install()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        # Plain flag reads, safe in a handler; a stray SIGUSR2 while running is ignored.
        if self.stop.is_set() and not self._done:
            raise StopRequested("the step under way did not end in time and was interrupted")

    def _watch(self) -> None:
        assert self._pipe is not None
        read_end = self._pipe[0]
        while True:
            try:
                data = os.read(read_end, 64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                self._on_signal(signum)

    def _on_signal(self, signum: int) -> None:
        if signum in STOP_SIGNALS:
            if self.stop.is_set():
                log.warning("second stop signal: interrupting the step under way")
                self._interrupt_main()
                return
            log.info(
                "%s received: finishing the current step, then stopping",
                signal.Signals(signum).name,
            )
            self.request_stop()
        elif signum == RELOAD_SIGNAL:
            log.info("SIGHUP received: reloading the config")
            self.reload.set()
            self._wake.set()

    # -- requests ------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the daemon to stop (what SIGTERM does); safe from any thread but a handler."""
        if self.stop.is_set():
            return
        self.stop.set()
        self._wake.set()
        self._on_stop()
        if self._pipe is not None and self._hard_stop_after > 0:
            self._timer = threading.Timer(self._hard_stop_after, self._interrupt_main)
            self._timer.daemon = True
            self._timer.start()

    def _interrupt_main(self) -> None:
        with self._interrupt_lock:  # disarm() waits for this, so no kill lands after it
            if self._done or self._main_thread is None:
                return
            log.warning(
                "the current step did not end in time; interrupting it (it resumes at the "
                "next start)"
            )
            with contextlib.suppress(OSError, ValueError):
                # A real signal, so a blocking system call in the main thread returns at once.
                signal.pthread_kill(self._main_thread, INTERRUPT_SIGNAL)

    def disarm(self) -> None:
        """The loop has ended: from now on nothing interrupts the main thread."""
        self._done = True
        if self._timer is not None:
            self._timer.cancel()  # before it started, too: it then never fires
        with self._interrupt_lock:
            pass  # an interrupt being sent right now has landed once this returns

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    # -- waiting -------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Sleep, beating the heartbeat; raise StopRequested as soon as a stop is asked for."""
        deadline = self._monotonic() + seconds
        while True:
            if self.stop.is_set():
                raise StopRequested("stop requested")
            left = deadline - self._monotonic()
            if left <= 0:
                return
            if threading.current_thread() is self._owner:  # a worker's wait proves nothing
                self._heartbeat()
            self.stop.wait(min(left, self._heartbeat_every))

    def nudge(self) -> None:
        """Wake the loop now (a worker finished an item: something may be due)."""
        self._wake.set()

    def wait(self, seconds: float) -> None:
        """Idle up to *seconds*; return early on a stop or reload request."""
        self._wake.wait(max(0.0, seconds))
        self._wake.clear()
