"""A hostile peer for tests: a loopback HTTP proxy in front of a real server (the sandbox).

Point rotator at :attr:`HostileProxy.url` instead of the sandbox. Every
request passes through unchanged, unless a rule added with
:meth:`HostileProxy.add` matches it (method and path regexes, and how many
times); then the rule's mode decides what the client gets:

``pass``
    the upstream answer, unchanged (the default).
``drip``
    the upstream status and headers at once, then the body one byte every
    ``interval`` seconds (chunked), then spaces, one every ``interval``, for
    ever: the answer never completes.
``drip_headers``
    a status line, then one header byte every ``interval`` seconds, for
    ever: the headers never complete.
``stall``
    the request is read and never answered.
``garbage``
    ``data`` (bytes that are not HTTP), then the connection is closed.
``oversized``
    a 200 whose JSON body is ``size`` bytes (default 50 MiB), chunked, or
    with its ``Content-Length`` announced when ``declare=True``.
``rewrite``
    the upstream answer with every match of ``pattern`` replaced by the
    literal text ``replacement`` (``count`` substitutions at most, 0 for
    all).
``close``
    the upstream status, headers and announced length, half the body, then
    the connection is dropped.

The upstream request is still sent for ``drip``, ``close`` and ``rewrite``
(the sandbox acts on it), never for ``drip_headers``, ``stall``,
``garbage`` and ``oversized``. :attr:`HostileProxy.seen` lists what came
through and the mode it met. Endless modes end when the client hangs up or
the proxy stops. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import re
import select
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MODES = (
    "pass",
    "drip",
    "drip_headers",
    "stall",
    "garbage",
    "oversized",
    "rewrite",
    "close",
)
GARBAGE = b"\x00\xff\xfeSSH-2.0-not-http\r\n\x1b[31m\x00" * 4
# Hop-by-hop headers (RFC 9110 7.6.1) and those this proxy sets itself.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
        "accept-encoding",
        "content-encoding",
    }
)
_MAX_REQUEST_HEAD = 64 * 1024


@dataclass
class Rule:
    mode: str
    method: re.Pattern[str] | None
    path: re.Pattern[str] | None
    times: int | None
    options: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method is not None and not self.method.fullmatch(method):
            return False
        return self.path is None or self.path.search(path) is not None


@dataclass(frozen=True)
class Seen:
    """One request that went through the proxy."""

    method: str
    path: str
    mode: str


class _Gone(Exception):
    """The client hung up, or the proxy is stopping."""


class HostileProxy:
    """A threaded loopback proxy that can misbehave on purpose (see the module docstring)."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError("the proxy forwards to an http://host:port upstream")
        self._upstream = (parts.hostname, parts.port or 80)
        self._rules: list[Rule] = []
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifetime ----------------------------------------------------------------

    def start(self) -> HostileProxy:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HostileProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the proxy first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- rules -------------------------------------------------------------------

    def add(
        self,
        mode: str,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int | None = None,
        **options: Any,
    ) -> None:
        """Misbehave with *mode* for requests matching *method* and *path* (regexes).

        *times* None: every matching request; else that many, then pass.
        Rules are tried in the order added.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        rule = Rule(
            mode,
            re.compile(method) if method else None,
            re.compile(path) if path else None,
            times,
            options,
        )
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        """Every request passes from now on."""
        with self._lock:
            self._rules.clear()

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def _choose(self, method: str, path: str) -> Rule:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    if rule.times is not None:
                        rule.times -= 1
                    self._seen.append(Seen(method, path, rule.mode))
                    return rule
            self._seen.append(Seen(method, path, "pass"))
        return Rule("pass", None, None, None)

    # -- answering ---------------------------------------------------------------

    def _serve(self, connection: socket.socket, reader: Any) -> None:
        head = _read_head(reader)
        if head is None:
            return
        method, target, headers = head
        length = int(headers.get("content-length", "0") or 0)
        body = reader.read(length) if length else b""
        rule = self._choose(method, urlsplit(target).path)
        answer = getattr(self, f"_{rule.mode}")
        with suppress(_Gone, OSError):
            answer(connection, method, target, headers, body, rule.options)

    def _forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            sent = {name: value for name, value in headers.items() if name not in _HOP}
            sent["Accept-Encoding"] = "identity"
            upstream.request(method, target, body=body or None, headers=sent)
            response = upstream.getresponse()
            content = response.read()
            kept = [(n, v) for n, v in response.getheaders() if n.lower() not in _HOP]
            return response.status, response.reason, kept, content
        finally:
            upstream.close()

    def _write_head(
        self, connection: socket.socket, status: int, reason: str, headers: list[tuple[str, str]]
    ) -> None:
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{n}: {v}" for n, v in headers]
        lines.append("Connection: close")
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _pass(self, connection, method, target, headers, body, options) -> None:
        status, reason, kept, content = self._forward(method, target, headers, body)
        self._write_head(connection, status, reason, [*kept, ("Content-Length", str(len(content)))])
        connection.sendall(content)

    def _rewrite(self, connection, method, target, headers, body, options) -> None:
        status, reason, kept, content = self._forward(method, target, headers, body)
        replacement = str(options["replacement"])
        text = re.sub(
            options["pattern"],
            lambda _: replacement,
            content.decode(),
            count=int(options.get("count", 0)),
        )
        content = text.encode()
        self._write_head(connection, status, reason, [*kept, ("Content-Length", str(len(content)))])
        connection.sendall(content)

    def _close(self, connection, method, target, headers, body, options) -> None:
        status, reason, kept, content = self._forward(method, target, headers, body)
        self._write_head(connection, status, reason, [*kept, ("Content-Length", str(len(content)))])
        connection.sendall(content[: len(content) // 2])
        connection.shutdown(socket.SHUT_RDWR)

    def _drip(self, connection, method, target, headers, body, options) -> None:
        interval = float(options.get("interval", 1.0))
        status, reason, kept, content = self._forward(method, target, headers, body)
        self._write_head(connection, status, reason, [*kept, ("Transfer-Encoding", "chunked")])
        for byte in _forever(content):
            self._pause(connection, interval)
            connection.sendall(b"1\r\n" + byte + b"\r\n")

    def _drip_headers(self, connection, method, target, headers, body, options) -> None:
        interval = float(options.get("interval", 1.0))
        connection.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        while True:
            self._pause(connection, interval)
            connection.sendall(b"a")

    def _stall(self, connection, method, target, headers, body, options) -> None:
        while True:
            self._pause(connection, 0.5)

    def _garbage(self, connection, method, target, headers, body, options) -> None:
        connection.sendall(options.get("data", GARBAGE))
        connection.shutdown(socket.SHUT_RDWR)

    def _oversized(self, connection, method, target, headers, body, options) -> None:
        size = int(options.get("size", 50 * 1024 * 1024))
        prefix, suffix = b'{"account": {"email": "', b'", "uuid": "x"}}'
        head = [("Content-Type", "application/json")]
        declare = bool(options.get("declare", False))
        head.append(("Content-Length", str(size)) if declare else ("Transfer-Encoding", "chunked"))
        self._write_head(connection, 200, "OK", head)
        block = 64 * 1024
        sent = 0
        while sent < size:
            if self._stopping.is_set():
                raise _Gone
            piece = prefix if sent == 0 else b"a" * min(block, size - sent - len(suffix))
            if not piece:
                piece = suffix
            sent += len(piece)
            connection.sendall(piece if declare else b"%x\r\n%s\r\n" % (len(piece), piece))
        if not declare:
            connection.sendall(b"0\r\n\r\n")

    def _pause(self, connection: socket.socket, seconds: float) -> None:
        """Wait; raise _Gone if the client hangs up or the proxy stops meanwhile."""
        if self._stopping.wait(0) or _hung_up(connection, seconds):
            raise _Gone
        if self._stopping.is_set():
            raise _Gone


def _forever(content: bytes) -> Iterator[bytes]:
    for index in range(len(content)):
        yield content[index : index + 1]
    while True:
        yield b" "


def _hung_up(connection: socket.socket, seconds: float) -> bool:
    """Whether the client closed its end within *seconds* (anything it sends is ignored)."""
    readable, _, _ = select.select([connection], [], [], seconds)
    if not readable:
        return False
    try:
        return connection.recv(4096, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _read_head(reader: Any) -> tuple[str, str, dict[str, str]] | None:
    request_line = reader.readline(_MAX_REQUEST_HEAD)
    if not request_line.strip():
        return None
    method, target, _ = request_line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        line = reader.readline(_MAX_REQUEST_HEAD)
        if line in (b"\r\n", b"\n", b""):
            return method, target, headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    proxy: HostileProxy


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.server.proxy._serve(self.connection, self.rfile)
