"""The idle daemon's resident memory and CPU over a minute.

A sandbox runs in its own process; `rotator run` starts against it with one
connection and one rotation policy (daily validation and audit, monthly
rotation), does its start-up work, and then idles. After a short settle the
benchmark samples the daemon's VmRSS (/proc/<pid>/status) every second and
its utime+stime (/proc/<pid>/stat) at both ends of the window, and prints a
table. Linux only (it reads /proc).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SCOPES = [
    "account:read",
    "spaces_key:read",
    "spaces_key:create_credentials",
    "spaces_key:delete",
    "app:read",
    "app:update",
]


@contextmanager
def sandbox_process() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "rotator.sandbox", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    # Fields after the command name (which may hold spaces) start at field 3: state.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def wait_ready(sock: socket.socket, timeout: float) -> None:
    sock.settimeout(timeout)
    while b"READY=1" not in sock.recv(4096):
        pass


def measure(seconds: float, settle: float) -> dict[str, float]:
    with (
        sandbox_process() as url,
        tempfile.TemporaryDirectory() as workdir,
        httpx.Client(base_url=url, timeout=30) as admin,
    ):
        home = Path(workdir)
        app_id = admin.get("/_sandbox/apps").json()["apps"][0]
        token = admin.post("/_sandbox/tokens", json={"scopes": SCOPES}).json()["token"]
        config = home / "rotator.toml"
        config.write_text(f"""
[daemon]
validate_every = "24h"
audit_every = "24h"

[[policies]]
name = "media"
connection = "prod"
spaces_key = "demo-media"
every = "30d"

[[policies.sinks]]
type = "app_platform"
app_id = "{app_id}"
access_key_env = "SPACES_KEY"
secret_key_env = "SPACES_SECRET"
""")
        notify_name = f"rotator-bench-{uuid.uuid4().hex}"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": workdir,
            "ROTATOR_STATE_DIR": str(home / "state"),
            "ROTATOR_CONFIG": str(config),
            "ROTATOR_DO_API_URL": url,
            "ROTATOR_DO_OAUTH_URL": url,
        }
        cli = [sys.executable, "-m", "rotator"]
        subprocess.run([*cli, "init"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*cli, "connection", "add", "prod", "--token-stdin"],
            env=env,
            input=token,
            text=True,
            check=True,
            capture_output=True,
        )
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind("\0" + notify_name)
            started = time.perf_counter()
            daemon = subprocess.Popen(
                [*cli, "run"],
                stderr=subprocess.DEVNULL,
                env={**env, "NOTIFY_SOCKET": "@" + notify_name},
            )
            try:
                wait_ready(notify, 30)
                ready = time.perf_counter() - started
                time.sleep(settle)  # let the start-up work (validate, audit, rotate) finish
                pid = daemon.pid
                rss_start, cpu_start = rss_kib(pid), cpu_seconds(pid)
                samples = [rss_start]
                window_start = time.perf_counter()
                while time.perf_counter() - window_start < seconds:
                    time.sleep(1)
                    samples.append(rss_kib(pid))
                window = time.perf_counter() - window_start
                cpu = cpu_seconds(pid) - cpu_start
            finally:
                daemon.send_signal(signal.SIGTERM)
                code = daemon.wait(15)
    return {
        "ready_s": ready,
        "window_s": window,
        "rss_start": rss_start / 1024,
        "rss_end": samples[-1] / 1024,
        "rss_max": max(samples) / 1024,
        "cpu_s": cpu,
        "cpu_pct": 100 * cpu / window,
        "exit": code,
    }


def print_table(row: dict[str, float]) -> None:
    print(f"idle `rotator run` over {row['window_s']:.0f} s (1 connection, 1 policy)")
    headers = [
        "ready (s)",
        "RSS start (MiB)",
        "RSS end (MiB)",
        "RSS max (MiB)",
        "CPU (s)",
        "CPU (%)",
        "exit on SIGTERM",
    ]
    print(" | ".join(headers))
    print(" | ".join("-" * len(h) for h in headers))
    print(
        f"{row['ready_s']:>9.2f} | {row['rss_start']:>15.1f} | {row['rss_end']:>13.1f} | "
        f"{row['rss_max']:>13.1f} | {row['cpu_s']:>7.2f} | {row['cpu_pct']:>7.3f} | "
        f"{row['exit']:>15}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the window")
    parser.add_argument("--settle", type=float, default=3.0, help="wait after READY=1 first")
    args = parser.parse_args(argv)
    print_table(measure(args.seconds, args.settle))


if __name__ == "__main__":
    main()
