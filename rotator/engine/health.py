"""The optional health and metrics listener: ``/healthz``, ``/readyz`` and ``/metrics``.

A stdlib ``ThreadingHTTPServer`` in a daemon thread. The endpoints have no
authentication, so the listener binds to loopback unless the operator
explicitly allows a public address (``rotator run --health-public``): a
container that publishes the port, or a scraper on another host, is a
deliberate choice. The endpoints never show a secret.

``/healthz`` is liveness: it answers 503 once the daemon's main loop has not
turned for ``stale_after`` seconds (``daemon.stale_after``, 5 minutes by
default) beyond the idle wait it planned (:class:`Heartbeat`), so a wedged
loop gets the process restarted. ``/readyz`` is readiness: the daemon's own
probe (the store can be opened, the config on disk loads).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rotator.engine.metrics import CONTENT_TYPE
from rotator.errors import ConfigError

log = logging.getLogger(__name__)

Probe = Callable[[], tuple[bool, str]]

STALE_AFTER = 300.0
"""Seconds past its planned wake-up before a silent main loop counts as wedged."""


class Heartbeat:
    """When the main loop last turned and how long it meant to idle after that.

    The loop calls :meth:`beat` whenever it makes progress (each turn, each
    job, each beat of a stop-aware wait) and :meth:`idle` before it waits.
    :meth:`overdue` is how far it is past the later of the two, so a loop
    idling as planned is never overdue however long the idle.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._expected = clock()

    def beat(self) -> None:
        with self._lock:
            self._expected = self._clock()

    def idle(self, seconds: float) -> None:
        with self._lock:
            self._expected = self._clock() + max(0.0, seconds)

    def overdue(self) -> float:
        """Seconds past the moment the loop should have turned again (0 when not late)."""
        with self._lock:
            return max(0.0, self._clock() - self._expected)


@dataclass(frozen=True)
class Endpoints:
    """What the listener answers with; each is called on the server's threads."""

    healthz: Probe
    readyz: Probe
    metrics: Callable[[], str]


def listen_address(text: str, *, public: bool = False) -> tuple[str, int]:
    """``host:port`` → (IP address, port); a non-loopback host only when *public*.

    An empty host (``:9464``) means 127.0.0.1. ``localhost`` and other names
    are resolved, and every address they resolve to must be loopback.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError("daemon.health_listen", [f"expected host:port, got {text!r}"])
    host = host.strip("[]") or "127.0.0.1"
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise ConfigError("daemon.health_listen", [f"cannot resolve {host!r}: {exc}"]) from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not public and not all(address.is_loopback for address in addresses):
        raise ConfigError(
            "daemon.health_listen",
            [
                f"{text} is not a loopback address; the health and metrics endpoints have "
                "no authentication, so rotator listens on loopback only unless you pass "
                "--health-public"
            ],
        )
    return str(addresses[0]), int(port_text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    endpoints: Endpoints
    heartbeat: Heartbeat | None
    stale_after: float

    def liveness(self) -> tuple[bool, str]:
        if self.heartbeat is not None:
            late = self.heartbeat.overdue()
            if late > self.stale_after:
                return False, (
                    f"unhealthy: the main loop is {late:.0f}s late "
                    f"(daemon.stale_after is {self.stale_after:g}s)"
                )
        return self.endpoints.healthz()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "rotator"
    sys_version = ""

    def do_GET(self) -> None:  # the name http.server calls
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        endpoints = self.server.endpoints
        path = self.path.split("?", 1)[0]
        content_type = "text/plain; charset=utf-8"
        if path == "/metrics":
            try:
                status, text, content_type = 200, endpoints.metrics(), CONTENT_TYPE
            except Exception:  # a bug: the log shows it, the scraper sees a 500
                log.exception("health: /metrics failed")
                status, text = 500, "metrics unavailable; see the daemon's log\n"
        elif path in ("/healthz", "/readyz"):
            ok, text = (self.server.liveness if path == "/healthz" else endpoints.readyz)()
            status, text = (200 if ok else 503), text + "\n"
        else:
            status, text = 404, "not found: try /healthz, /readyz or /metrics\n"
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health: %s %s", self.address_string(), format % args)


class HealthServer:
    """Serves the endpoints on one address in a background thread.

    With a *heartbeat*, ``/healthz`` fails once the loop is more than
    *stale_after* seconds late, whatever the ``healthz`` probe says.
    """

    def __init__(
        self,
        host: str,
        port: int,
        endpoints: Endpoints,
        *,
        heartbeat: Heartbeat | None = None,
        stale_after: float = STALE_AFTER,
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("_BoundServer", (_Server,), {"address_family": family})
        try:
            self._server: _Server = server_class((host, port), _Handler)
        except OSError as exc:
            raise ConfigError(
                "daemon.health_listen", [f"cannot listen on {host}:{port}: {exc.strerror}"]
            ) from exc
        self._server.endpoints = endpoints
        self._server.heartbeat = heartbeat
        self._server.stale_after = stale_after
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="rotator-health",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a loop that must be running
            self._server.shutdown()
            self._thread.join(timeout=2.0)
        self._server.server_close()
