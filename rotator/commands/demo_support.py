"""What the demo runs beside rotator: a webhook receiver and, when installed, OpenBao.

Both listen on loopback only and live in the demo's temporary directory.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from rotator.alerts.webhook import verify_signature


class AlertReceiver:
    """A local webhook endpoint that keeps every alert and checks its signature."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.alerts: list[dict[str, Any]] = []
        self.all_signed = True
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                signed = verify_signature(
                    receiver.secret,
                    self.headers.get("X-Rotator-Signature", ""),
                    body,
                    now=time.time(),
                )
                receiver.all_signed = receiver.all_signed and signed
                receiver.alerts.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the demo narrates; no access log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/rotator"

    def __enter__(self) -> AlertReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def find_bao() -> Path | None:
    """The OpenBao binary: next to this Python (a venv's bin) or on PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.exists():
        return beside
    found = shutil.which("bao")
    return Path(found) if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OpenBao:
    """``bao server -dev`` on a free loopback port, with a random root token."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.token = secrets.token_urlsafe(24)
        self.port = _free_port()
        self.token_file = workdir / "vault-token"
        self.token_file.write_text(self.token + "\n")
        self.token_file.chmod(0o600)
        self._log = (workdir / "openbao.log").open("wb")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OpenBao:
        # The dev server also binds port + 1 (its cluster listener), so a lost
        # race for either port is retried on another pair.
        for _attempt in range(3):
            if self._start():
                return self
            self.port = _free_port()
        raise RuntimeError("OpenBao did not start (see openbao.log in the demo directory)")

    def _start(self) -> bool:
        # The root token travels by environment, not argv, so `ps` never shows it;
        # -dev-no-store-token keeps it out of ~/.vault-token.
        self._process = subprocess.Popen(
            [
                str(self.binary),
                "server",
                "-dev",
                "-dev-no-store-token",
                f"-dev-listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={
                "PATH": "/usr/bin:/bin",
                "BAO_DEV_ROOT_TOKEN_ID": self.token,
                "HOME": str(self.token_file.parent),
            },
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                if httpx.get(f"{self.url}/v1/sys/health", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self._stop()
        return False

    def read(self, path: str) -> dict[str, str] | None:
        """The current data at ``secret/<path>`` (the demo shows fingerprints only)."""
        response = httpx.get(
            f"{self.url}/v1/secret/data/{path}", headers={"X-Vault-Token": self.token}, timeout=5
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data: dict[str, str] = response.json()["data"]["data"]
        return data

    def _stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __exit__(self, *exc_info: object) -> None:
        self._stop()
        self._log.close()
