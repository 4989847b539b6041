"""A stand-in for the operator's own service: reads an env file, reloads on SIGHUP, tells its key.

``python -m rotator.sandbox.consumer serve FILE --name SPACES_ACCESS_KEY``
reads ``FILE`` at start and again on every SIGHUP, prints ``ready <port>``
and serves on loopback:

- ``GET /key`` → 200 ``{"access_key": <what it holds>, "reloads": <n>}``;
- ``GET /key?expect=<key>`` → 200 when it holds that key, else 409: the
  ``file`` sink's ``check`` URL, the proof the service uses the new value.

``python -m rotator.sandbox.consumer reload PID [--record FILE]`` is a
``reload`` command: it appends its own argv and environment to ``FILE`` (so
tests can prove no secret reached them) and sends SIGHUP to ``PID``.

The demo and the tests run it as a child process; :class:`Consumer` starts
and stops one.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import FrameType
from typing import Any


def _read_key(path: Path, name: str) -> str | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, equals, value = line.strip().partition("=")
        if equals and key == name:
            return value.strip("'\"")
    return None


def serve(path: Path, name: str) -> None:
    state: dict[str, Any] = {"key": _read_key(path, name), "reloads": 0}

    def reload(signum: int, frame: FrameType | None) -> None:
        state["key"] = _read_key(path, name)
        state["reloads"] += 1

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/key":
                self.send_error(404)
                return
            expect = urllib.parse.parse_qs(url.query).get("expect")
            status = 200 if expect is None or expect[0] == state["key"] else 409
            body = json.dumps({"access_key": state["key"], "reloads": state["reloads"]}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    signal.signal(signal.SIGHUP, reload)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = HTTPServer(("127.0.0.1", 0), Handler)
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.05)


def send_reload(pid: int, record: Path | None) -> None:
    if record is not None:
        with record.open("a") as out:
            out.write(json.dumps({"argv": sys.argv, "env": dict(os.environ)}) + "\n")
    os.kill(pid, signal.SIGHUP)


class Consumer:
    """One ``serve`` child on a free loopback port; stopped on exit."""

    def __init__(self, env_file: Path, name: str = "SPACES_ACCESS_KEY") -> None:
        self.env_file = env_file
        self.name = name
        self.port = 0
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._child is not None
        return self._child.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/key"

    def reload_command(self, record: Path | None = None) -> list[str]:
        """The argv a ``file`` sink's ``reload`` runs to make this service read its file again."""
        argv = [sys.executable, "-m", "rotator.sandbox.consumer", "reload", str(self.pid)]
        return argv + (["--record", str(record)] if record is not None else [])

    def __enter__(self) -> Consumer:
        command = [sys.executable, "-m", "rotator.sandbox.consumer", "serve"]
        self._child = subprocess.Popen(
            [*command, str(self.env_file), "--name", self.name],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": _package_root()},
        )
        assert self._child.stdout is not None
        ready, _, _ = select.select([self._child.stdout], [], [], 20)
        line = self._child.stdout.readline().decode() if ready else ""
        if not line.startswith("ready "):
            self.__exit__()
            raise RuntimeError("the consumer service did not start")
        self.port = int(line.split()[1])
        return self

    def held(self) -> str | None:
        """The key the service holds now (asked over HTTP, as the check does)."""
        import httpx

        key: str | None = httpx.get(self.url, timeout=5).json()["access_key"]
        return key

    def __exit__(self, *exc_info: object) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.terminate()
            try:
                self._child.wait(10)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
        if self._child is not None and self._child.stdout is not None:
            self._child.stdout.close()


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rotator.sandbox.consumer")
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve")
    serving.add_argument("file", type=Path)
    serving.add_argument("--name", default="SPACES_ACCESS_KEY")
    reloading = commands.add_parser("reload")
    reloading.add_argument("pid", type=int)
    reloading.add_argument("--record", type=Path)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.file, args.name)
    else:
        send_reload(args.pid, args.record)


if __name__ == "__main__":
    main()
