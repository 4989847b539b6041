"""HTTP plumbing: a stdlib ThreadingHTTPServer on loopback that feeds the pipeline.

HTTP/1.1 with keep-alive (clients such as httpx pool connections), every
response with a Content-Length, and a clean stop that closes idle
keep-alive connections so no thread or socket outlives the server.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rotator.sandbox.calls import Reply
from rotator.sandbox.pipeline import Incoming, Pipeline

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024


def loopback_address(host: str) -> tuple[str, int]:
    """The address to bind for ``host`` and its family; refuses anything not loopback."""
    if host == "localhost":
        return "127.0.0.1", socket.AF_INET
    try:
        address = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"the sandbox binds to a loopback address only, not {host!r}") from exc
    if not address.is_loopback:
        raise ValueError(f"the sandbox binds to a loopback address only, not {host!r}")
    return str(address), socket.AF_INET6 if address.version == 6 else socket.AF_INET


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its pipeline and its open connections."""

    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, address: tuple[str, int], family: int, pipeline: Pipeline) -> None:
        self.address_family = family
        self.pipeline = pipeline
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, SandboxHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup (slow or absent offline)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is normal here; anything else is logged."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return
        log.exception("sandbox connection from %s failed", client_address)

    def close_connections(self) -> None:
        """Shut every open connection so keep-alive handler threads end."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SandboxHandler(BaseHTTPRequestHandler):
    """Reads one request at a time and writes what the pipeline decides."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle's algorithm and the
    # client's delayed ACK every answer would stall about 40 ms.
    disable_nagle_algorithm = True
    server_version = "rotator-sandbox"
    sys_version = ""
    server: SandboxHTTPServer

    def setup(self) -> None:
        """Register the connection so a stop can close it."""
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        """Unregister the connection."""
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the pipeline keeps its own request log."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(413)
            return
        incoming = Incoming(self.command, self.path, dict(self.headers.items()), body)
        outcome = self.server.pipeline.handle(incoming)
        if outcome.reply is None:
            # A dropped connection: no status line, no bytes, just close.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self._write(outcome.reply)
        if outcome.kill is not None:
            pid, signal_number = outcome.kill
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal_number)

    def _write(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if reply.status != 204:
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.status != 204 and self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve
