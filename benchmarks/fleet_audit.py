"""Scope audit of many tokens by the daemon's worker pool, 50 ms added to every request.

``rotator run --once`` (a subprocess) audits N connections (each its own
token, validated just now so only the audit is due) on ``daemon.concurrency``
workers, in token-info mode (token info, then one blast-radius list: two
calls in a row) and in probe mode (token info refused, so every scope is
probed). Measured: the audit job's wall time, calls as the sandbox saw them.

The bound is the larger of two floors no engine can beat:

* the network: ``calls x latency ÷ concurrency``, and no less than each
  worker's share of items times one item's chain of calls in a row
  (``ceil(N ÷ concurrency) x calls per item x latency``);
* the local work: the same audit with no latency added (each item's own
  CPU, its store writes, the sandbox answering), measured on the same
  machine in the same minute. In token-info mode an item spends about as
  long on this as on the network, and it does not shrink with more workers
  (one interpreter, one SQLite writer at a time).

Goal: ≤ 1.3 x the bound. The network-only ratio is printed beside it.

A second table runs the same audits in the daemon's loop (``rotator run``):
seconds from its start until the sandbox saw every call, beside the whole
``run --once`` process (both include start-up).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "engine"), str(ROOT)]

from daemon_support import SCOPES, Home  # noqa: E402

from rotator.digitalocean.client import TOKEN_INFO_PATH  # noqa: E402
from rotator.sandbox import Sandbox  # noqa: E402
from rotator.secret import Secret  # noqa: E402
from rotator.services.context import Context  # noqa: E402
from rotator.store.connections import ValidationRecord  # noqa: E402
from rotator.store.core import utc_now  # noqa: E402


@contextlib.contextmanager
def audit_home(tokens: int, mode: str, latency: float, concurrency: int) -> Iterator[Home]:
    """A store of *tokens* connections, validated just now, so only their audit is due."""
    with tempfile.TemporaryDirectory() as home_dir, Sandbox() as sandbox:
        home = Home(Path(home_dir), sandbox)
        home.config.write_text(f"""
[daemon]
validate_every = "1h"
audit_every = "1h"
concurrency = {concurrency}

[digitalocean]
retries = 1
timeout = "10s"
""")
        assert home("init").code == 0
        context = Context(environ=home.env)
        with context.open_store(writer=True) as store:
            for n in range(tokens):
                token = sandbox.add_token(SCOPES)
                checked = ValidationRecord("valid", "benchmark", utc_now())
                store.connections.add(f"c{n:04d}", "", Secret(token), "personal", checked)
        if mode == "probes":
            sandbox.add_fault(path=TOKEN_INFO_PATH, status=404, times=None)
        sandbox.add_fault(delay=latency, times=None)
        sandbox.reset_request_log()
        yield home


def measure(tokens: int, mode: str, latency: float, concurrency: int) -> dict[str, float]:
    with audit_home(tokens, mode, latency, concurrency) as home:
        started = time.monotonic()
        result = home("run", "--once", "--json", timeout=3600)
        total = time.monotonic() - started
        assert result.code == 0, result.stderr[-2000:]
        jobs = {job["job"]: job for job in json.loads(result.stdout)["jobs"]}
        audit = jobs["audit"]
        calls = len(home.sandbox.requests())
        rounds = math.ceil(tokens / concurrency)
        network = max(calls * latency / concurrency, rounds * (calls / tokens) * latency)
        return {
            "tokens": tokens,
            "mode": mode,
            "calls": calls,
            "wall": audit["seconds"],
            "process": total,
            "network": network,
            "failed": audit["failed"],
        }


def measure_loop(tokens: int, mode: str, latency: float, concurrency: int, calls: int) -> float:
    """Seconds from starting ``rotator run`` (the loop) until the sandbox saw *calls*."""
    with audit_home(tokens, mode, latency, concurrency) as home:
        started = time.monotonic()
        daemon = subprocess.Popen(
            [sys.executable, "-m", "rotator", "run"],
            env=home.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while len(home.sandbox.requests()) < calls:
                if time.monotonic() - started > 600 or daemon.poll() is not None:
                    raise RuntimeError("the daemon did not make every call within 600 s")
                time.sleep(0.02)
            return time.monotonic() - started
        finally:
            daemon.terminate()
            daemon.wait(30)


def measure_mode(tokens: int, mode: str, latency: float, concurrency: int) -> dict[str, object]:
    """One mode at *latency*, then at none (the local floor), and the bound of both."""
    row: dict[str, object] = dict(measure(tokens, mode, latency, concurrency))
    local = measure(tokens, mode, 0.0, concurrency)
    row["local"] = local["wall"]
    row["bound"] = max(float(row["network"]), local["wall"])  # type: ignore[arg-type]
    row["load"] = os.getloadavg()[0]
    calls = int(row["calls"])  # type: ignore[call-overload]
    row["loop"] = measure_loop(tokens, mode, latency, concurrency, calls)
    return row


def print_table(rows: list[dict[str, object]], latency: float, concurrency: int) -> None:
    print(f"audit of N tokens, {latency * 1000:.0f} ms added latency, concurrency {concurrency}")
    print(
        "| tokens | mode | calls | audit job wall (s) | network floor (s) | local floor, "
        "0 ms added (s) | wall/network | wall/bound (goal ≤ 1.3) | failed | load avg |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        wall, network = float(r["wall"]), float(r["network"])  # type: ignore[arg-type]
        local, bound = float(r["local"]), float(r["bound"])  # type: ignore[arg-type]
        print(
            f"| {r['tokens']} | {r['mode']} | {r['calls']} | {wall:.1f} | {network:.2f} | "
            f"{local:.2f} | {wall / network:.2f} | {wall / bound:.2f} | {r['failed']} | "
            f"{float(r['load']):.1f} |"  # type: ignore[arg-type]
        )
    print()
    print("the same audits in the daemon's loop (`rotator run`), start-up included")
    print("| tokens | mode | `run --once`, whole process (s) | `run`, until the last call (s) |")
    print("|---:|---|---:|---:|")
    for r in rows:
        print(
            f"| {r['tokens']} | {r['mode']} | {float(r['process']):.1f} | "  # type: ignore[arg-type]
            f"{float(r['loop']):.1f} |"  # type: ignore[arg-type]
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    rows = [
        measure_mode(args.tokens, mode, args.latency, args.concurrency)
        for mode in ("token-info", "probes")
    ]
    print_table(rows, args.latency, args.concurrency)


if __name__ == "__main__":
    main()
