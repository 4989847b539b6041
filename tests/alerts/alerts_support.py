"""A real local HTTP receiver for alert tests, a settable clock, and canary secrets."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rotator.alerts import Alert
from rotator.secret import Secret

# Canaries: none of these may ever leave rotator except where they must
# (the Slack path in the request line, the signing key inside the HMAC).
CANARY_TOKEN = "dop_v1_" + "c0ffee15bad5eed0" * 4
SIGNING_SECRET = "whsec-canary-7f3a9c1e5b2d4f6a8e0c"
SLACK_PATH = "/services/T0CANARY1/B0CANARY2/canarySlackToken9x8y7z6w"
WEBHOOK_PATH = "/hooks/rotator"
CANARIES = [CANARY_TOKEN, CANARY_TOKEN[7:], SIGNING_SECRET, SLACK_PATH, SLACK_PATH.rsplit("/")[-1]]

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """``ThreadingHTTPServer`` on 127.0.0.1 that records requests.

    ``status`` sets the answer; ``stop()`` takes it down (connections are
    refused) and ``start()`` brings it back on the same port.
    """

    status: int = 200
    reply: bytes = b"ok"
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(
                    Received(
                        "POST",
                        self.path,
                        {key.lower(): value for key, value in self.headers.items()},
                        body,
                    )
                )
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None

    def to(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path == path]


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime = START) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment


def token_alert(
    event: str = "token_invalid",
    subject: str = "prod",
    *,
    at: datetime = START,
    reason: str = "401 Unauthorized",
    resolved: bool = False,
) -> Alert:
    """An alert as validation would raise it: names and a fingerprint only."""
    return Alert.of(
        event,
        subject,
        title=f"Token {subject} is invalid" if not resolved else f"Token {subject} is valid again",
        text=f"DigitalOcean refused the token of connection {subject}.",
        occurred_at=at,
        facts={
            "connection": subject,
            "token_fingerprint": Secret(CANARY_TOKEN).fingerprint,
            "reason": reason,
        },
        resolved=resolved,
    )
