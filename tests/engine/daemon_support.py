"""Run `rotator run` as systemd or an operator would: a subprocess, its log, a notify socket."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from rotator.sandbox import Sandbox
from tests.support.cli import ROTATION_SCOPES, Rotator, media_policy

SCOPES = ROTATION_SCOPES


class Home(Rotator):
    """The e2e CLI harness, with the daemon's config and a few readers of its state."""

    def __init__(self, path: Path, sandbox: Sandbox) -> None:
        super().__init__(path, sandbox.url)
        self.sandbox = sandbox
        self.app_id = sandbox.app_ids()[0]
        self.path = path
        self.token = ""  # prod's token, once registered

    def write_config(
        self,
        *,
        validate_every: str = "1h",
        audit_every: str = "1h",
        every: str = "1h",
        grace: str = "1h",
        health_listen: str | None = None,
    ) -> None:
        health = f'health_listen = "{health_listen}"\n' if health_listen else ""
        self.config.write_text(f"""
[daemon]
validate_every = "{validate_every}"
audit_every = "{audit_every}"
{health}
[digitalocean]
retries = 1
timeout = "5s"

{media_policy(self.app_id, every=every, grace=grace)}""")

    def status(self) -> dict:
        result = self("status", "--json")
        assert result.code == 0, result.stderr
        return json.loads(result.stdout)

    def history(self, event: str) -> list[dict]:
        result = self("history", "--json", "--limit", "1000")
        assert result.code == 0, result.stderr
        return [entry for entry in json.loads(result.stdout) if entry["event"] == event]


class DaemonProcess:
    """`python -m rotator run ...` with its stderr collected line by line as it comes."""

    def __init__(self, home: Home, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rotator", "run", *args],
            env={**home.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def count(self, pattern: str) -> int:
        return sum(bool(re.search(pattern, line)) for line in list(self.lines))

    def wait_for(self, pattern: str, *, times: int = 1, timeout: float = 20) -> re.Match[str]:
        """The first log line matching *pattern*, once it has appeared *times* times."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matches = [m for line in list(self.lines) if (m := re.search(pattern, line))]
            if len(matches) >= times:
                return matches[0]
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not logged {times} time(s); the log:\n{self.log}")

    @property
    def health_url(self) -> str:
        return self.wait_for(r"health and metrics on (http://\S+)").group(1)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, *, timeout: float = 10) -> tuple[int, float]:
        """SIGTERM; the exit code and the seconds it took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        elapsed = time.monotonic() - started
        self._reader.join(timeout=5)
        return code, elapsed

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=5)


class NotifySocket:
    """The AF_UNIX datagram socket systemd would own: a thread collects what the daemon sends."""

    def __init__(self, directory: Path, *, abstract: bool = False) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"rotator-test-{uuid.uuid4().hex}"
            self.socket.bind("\0" + name)
            self.address = "@" + name
        else:
            path = directory / "notify.sock"
            self.socket.bind(str(path))
            self.address = str(path)
        self.messages: list[dict[str, str]] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        self.socket.settimeout(0.1)  # so close() ends the thread promptly
        while not self._closed:
            try:
                data = self.socket.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append(
                dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            )

    def wait_for(self, field: str, *, timeout: float = 20) -> dict[str, str]:
        """The first message holding *field* (``READY=1``, or just a key like ``STATUS``)."""
        key, _, value = field.partition("=")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.messages):
                if key in message and (not value or message[key] == value):
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no {field} among {self.messages}")

    def close(self) -> None:
        self._closed = True
        self._reader.join(timeout=1)
        self.socket.close()
