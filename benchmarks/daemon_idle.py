"""The idle daemon's resident memory and CPU over a minute, alone and with a fleet's store.

First table: a sandbox runs in its own process; `rotator run` starts against
it with one connection and one rotation policy (daily validation and audit,
monthly rotation), does its start-up work, and then idles.

Second table (``--sizes``, by default 0, 1,000 and 10,000): one store per
size, seeded by bulk SQL (:mod:`fleet_store`) with connections validated and
audited a minute ago (so nothing is due for a day), and one `rotator run`
on each, all at once so they share the machine's load alike. Each figure is
set beside the empty store's, measured in the same run. Goal: CPU and RSS
within 1.2 times the empty store's (cost flat in the fleet's size).

After a short settle the benchmark samples each daemon's VmRSS
(/proc/<pid>/status) every second and its CPU time at both ends of the window
(utime+stime from /proc/<pid>/stat; for the fleet table every thread's
nanoseconds on a core from schedstat, since an idle daemon's minute is a
few clock ticks). The daemon looks at its jobs at least every 30 s,
so a window shorter than a minute holds one or two wake-ups. Linux only (it
reads /proc).
"""

from __future__ import annotations

import argparse
import contextlib
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
from fleet_store import environment, make_store, rotator_command

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


def cpu_seconds_exact(pid: int) -> float:
    """CPU time of every thread of *pid* in nanoseconds (schedstat), else in clock ticks."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that ended, or no schedstat
            continue
    return total / 1e9 if total else cpu_seconds(pid)


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
            "ROTATOR_DO_REGISTRY_URL": url,
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


FLEET_CONFIG = """
[daemon]
validate_every = "24h"
audit_every = "24h"
"""
GOAL = 1.2


def measure_fleet(sizes: list[int], seconds: float, settle: float) -> list[dict[str, float]]:
    """One idle daemon per store size, side by side; CPU and RSS over the same window."""
    with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
        daemons = []
        for size in sizes:
            env = environment(Path(workdir) / f"fleet-{size}", FLEET_CONFIG)
            make_store(env, connections=size)
            notify_name = f"rotator-bench-{uuid.uuid4().hex}"
            notify = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
            notify.bind("\0" + notify_name)
            started = time.perf_counter()
            daemon = subprocess.Popen(
                [*rotator_command(), "run"],
                stderr=subprocess.DEVNULL,
                env={**env, "NOTIFY_SOCKET": "@" + notify_name},
            )
            stack.callback(_stop, daemon)
            daemons.append((size, daemon, notify, started))
        ready = {}
        for size, _, notify, started in daemons:
            wait_ready(notify, 120)
            ready[size] = time.perf_counter() - started
        time.sleep(settle)
        cpu_start = {size: cpu_seconds_exact(daemon.pid) for size, daemon, _, _ in daemons}
        rss: dict[int, list[int]] = {size: [] for size in sizes}
        window_start = time.perf_counter()
        while True:
            for size, daemon, _, _ in daemons:
                rss[size].append(rss_kib(daemon.pid))
            if time.perf_counter() - window_start >= seconds:
                break
            time.sleep(1)
        window = time.perf_counter() - window_start
        return [
            {
                "connections": size,
                "ready_s": ready[size],
                "window_s": window,
                "rss_end": rss[size][-1] / 1024,
                "rss_max": max(rss[size]) / 1024,
                "cpu_per_min": (cpu_seconds_exact(daemon.pid) - cpu_start[size]) * 60 / window,
            }
            for size, daemon, _, _ in daemons
        ]


def _stop(daemon: subprocess.Popen[bytes]) -> None:
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(30)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait(10)


def _ratio(value: float, base: float) -> str:
    if base <= 0:
        return "   n/a" if value > 0 else "  1.00"
    return f"{value / base:6.2f}"


def print_fleet_table(rows: list[dict[str, float]]) -> None:
    base = rows[0]
    print(
        f"idle `rotator run` over {base['window_s']:.0f} s with a fleet's store "
        f"(no policies; ratios to the {base['connections']:,}-connection store, goal ≤ {GOAL})"
    )
    print("connections | ready (s) | RSS max (MiB) | RSS ratio | CPU (s/min) | CPU ratio | CPU (%)")
    print("-----------:|----------:|--------------:|----------:|------------:|----------:|-------:")
    for row in rows:
        print(
            f"{row['connections']:>11,} | {row['ready_s']:9.2f} | {row['rss_max']:13.1f} | "
            f"{_ratio(row['rss_max'], base['rss_max']):>9} | {row['cpu_per_min']:11.3f} | "
            f"{_ratio(row['cpu_per_min'], base['cpu_per_min']):>9} | "
            f"{100 * row['cpu_per_min'] / 60:7.3f}"
        )
    print("(CPU: every thread's time on a core, from /proc/<pid>/task/*/schedstat)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the window")
    parser.add_argument("--settle", type=float, default=3.0, help="wait after READY=1 first")
    parser.add_argument(
        "--sizes",
        default="0,1000,10000",
        help="connections in each fleet store, the first the baseline ('' skips the fleet)",
    )
    parser.add_argument("--fleet-only", action="store_true", help="skip the sandbox daemon")
    args = parser.parse_args(argv)
    if not args.fleet_only:
        print_table(measure(args.seconds, args.settle))
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    if sizes:
        print_fleet_table(measure_fleet(sizes, args.seconds, args.settle))


if __name__ == "__main__":
    main()
