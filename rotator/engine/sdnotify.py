"""systemd's notify protocol (``sd_notify(3)``), without libsystemd.

When systemd starts a ``Type=notify`` service it sets ``NOTIFY_SOCKET`` to an
AF_UNIX datagram socket (a path, or an abstract name written with a leading
``@``); the service sends newline-separated ``KEY=value`` lines to it:
``READY=1`` once started, ``STATUS=...`` for ``systemctl status``,
``RELOADING=1`` and ``STOPPING=1`` around a reload and a stop, and
``WATCHDOG=1`` at least every ``WATCHDOG_USEC`` microseconds when the unit has
``WatchdogSec=``. Without ``NOTIFY_SOCKET`` every call does nothing. A failed
send is logged once and never stops the daemon: being unmanaged is no reason
to fail.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | None:
    """The address to send to: a path, or ``@name`` as Linux's abstract ``\\0name``."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``WATCHDOG_USEC``, as systemd advises.

    None when there is no watchdog, or ``WATCHDOG_PID`` names another process
    (the variable was inherited, not meant for us).
    """
    owner = environ.get("WATCHDOG_PID")
    if owner and owner.strip() != str(pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2 / 1_000_000 if usec > 0 else None


class Notifier:
    """Sends notify messages when ``NOTIFY_SOCKET`` is set; otherwise a no-op."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        environ = os.environ if environ is None else environ
        raw = environ.get("NOTIFY_SOCKET", "")
        self._address = socket_address(raw) if raw else None
        if raw and self._address is None:
            log.warning("NOTIFY_SOCKET=%r is neither a path nor an @abstract name; ignored", raw)
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False
        self._last_status = ""
        self._monotonic = monotonic
        self.watchdog_every = watchdog_interval(environ, os.getpid()) if self._address else None
        self._last_ping = monotonic()

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *lines: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; True when it was sent."""
        if self._address is None:
            return False
        message = "\n".join(lines).encode()
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    # Never wait for a reader that has stopped reading: drop the message.
                    self._socket.setblocking(False)
                self._socket.sendto(message, self._address)
            except BlockingIOError:
                log.debug("notify socket %s is full; message dropped", self._shown)
                return False
            except OSError as exc:
                if not self._warned:
                    log.warning("cannot notify systemd at %s: %s", self._shown, exc)
                    self._warned = True
                return False
        return True

    @property
    def _shown(self) -> str:
        address = self._address or ""
        return "@" + address[1:] if address.startswith("\0") else address

    def ready(self, status: str) -> None:
        self._last_status = _status(status)
        self.send("READY=1", self._last_status)

    def status(self, text: str) -> None:
        """Set the unit's status line (sent only when it changed)."""
        line = _status(text)
        if line != self._last_status:
            self._last_status = line
            self.send(line)

    def reloading(self) -> None:
        # systemd (Type=notify-reload) wants the moment the reload began with RELOADING=1.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.send("STOPPING=1", _status("stopping"))

    def watchdog(self) -> None:
        """Ping the watchdog if half its timeout has passed since the last ping."""
        if self.watchdog_every is None:
            return
        now = self._monotonic()
        if now - self._last_ping >= self.watchdog_every:
            self._last_ping = now
            self.send("WATCHDOG=1")

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


def _status(text: str) -> str:
    return "STATUS=" + " ".join(text.split())  # one line: a newline would start a new field
