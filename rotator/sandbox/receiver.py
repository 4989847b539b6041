"""A real local HTTP receiver for alerts, for the demo and the tests.

A ``ThreadingHTTPServer`` on 127.0.0.1 that records every POST and, given a
*verify* callable (the demo and the tests pass the webhook channel's
signature check), whether each one was signed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "Receiver", "Verify"]

Verify = Callable[[Mapping[str, str], bytes], bool]
"""(lower-cased headers, body) → whether the request is signed as it should be."""


@dataclass
class Received:
    """One request as the receiver saw it (``signed`` is None without a *verify*)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records requests; ``status``/``reply`` set the answer.

    ``stop()`` takes it down (connections are refused) and ``start()`` brings
    it back on the same port; ``with Receiver() as receiver:`` does both.
    """

    status: int = 200
    reply: bytes = b"ok"
    verify: Verify | None = None
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def all_signed(self) -> bool:
        """Whether every request so far passed *verify*."""
        return all(request.signed for request in self.requests)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                signed = None if receiver.verify is None else receiver.verify(headers, body)
                receiver.requests.append(Received("POST", self.path, headers, body, signed))
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # no access log

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def to(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path == path]
