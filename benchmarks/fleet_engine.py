"""The fleet engine: N policies with App Platform sinks on one token, paced to its limit.

The sandbox runs in this process (its request log is the referee) with
time-scaled deployments (``--step`` seconds a phase: 0.5 s stands for minutes).
``rotator run`` (the daemon loop, a subprocess) rotates every policy, each
into its own app: the rotation admitted against the token's budget, its
deployment awaited as ``waiting_for_deployment`` rather than in a worker.
Measured once every policy is promoted: wall time against the bound
(calls ÷ allowed rate per second, or one deployment, whichever is larger),
the fraction of the allowed rate used (calls per second ÷ limit per second),
the share of calls answered 429, and failed items. Goals: ≥ 0.9 of the
allowed rate, ≤ 1 % 429, 0 failed.

The sandbox holds at most 200 Spaces keys per account (it refuses the 201st
as DigitalOcean does at its account limit), and a rotated policy keeps two
keys through its grace period (the sandbox seeds one of its own): 98 is the
largest fleet of Spaces-key policies one token can rotate, so it is the
default large size; N = 200 needs a second account, hence a second token.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "engine"), str(ROOT)]

from daemon_support import SCOPES, Home  # noqa: E402
from fleet_support import fleet_config, make_fleet  # noqa: E402

from rotator.sandbox import Sandbox  # noqa: E402

KEY_AGE = 3 * 3600  # the sandbox runs this far behind: every key is overdue


def measure(size: int, limit: int, step: float, concurrency: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as home_dir,
        Sandbox(deployment_step_seconds=step, clock=lambda: time.time() - KEY_AGE) as sandbox,
    ):
        home = Home(Path(home_dir), sandbox)
        home.write_config()
        assert home("init").code == 0
        token = sandbox.add_token(SCOPES)
        assert home("connection", "add", "prod", "--token-stdin", stdin=token).code == 0
        fleet = make_fleet(sandbox, size)
        home.config.write_text(
            fleet_config(fleet, per_minute=limit, per_hour=100_000, concurrency=concurrency)
        )
        sandbox.set_rate_limits(per_minute=limit, per_hour=100_000)
        time.sleep(61)  # the setup's calls leave the sandbox's minute
        sandbox.reset_request_log()
        started = time.monotonic()
        daemon = subprocess.Popen(
            [sys.executable, "-m", "rotator", "run"],
            env=home.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []
        done = threading.Event()

        def read() -> None:
            assert daemon.stderr is not None
            rotated = 0
            for line in daemon.stderr:
                lines.append(line)
                if re.search(r"policy p\d+: rotated", line):
                    rotated += 1
                    if rotated == size:
                        done.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        done.wait(3 * 3600)
        wall = time.monotonic() - started
        daemon.terminate()
        daemon.wait(20)
        reader.join(5)
        requests = [r for r in sandbox.requests() if r["path"].startswith("/v2")]
        statuses = Counter(int(r["status"]) for r in requests)
        failures = [line for line in lines if re.search(r"rotation \S+ failed", line)]
        for line in failures:
            print(line.rstrip(), file=sys.stderr)
        failed = len(failures)
        calls = len(requests)
        deployment = 4 * step
        bound = max(calls / (limit / 60.0), deployment)
        return {
            "size": size,
            "limit": limit,
            "calls": calls,
            "wall": wall,
            "bound": bound,
            "fraction": (calls / wall) / (limit / 60.0),
            "rate429": statuses[429] / calls if calls else 0.0,
            "n429": statuses[429],
            "failed": failed,
        }


def print_table(rows: list[dict[str, float]]) -> None:
    print(
        "| policies | limit/min | calls | wall (s) | bound (s) | wall/bound | "
        "fraction of allowed rate (goal ≥ 0.9) | 429s (goal ≤ 1 %) | failed (goal 0) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['size']:.0f} | {r['limit']:.0f} | {r['calls']:.0f} | {r['wall']:.1f} | "
            f"{r['bound']:.1f} | {r['wall'] / r['bound']:.2f} | {r['fraction']:.2f} | "
            f"{r['n429']:.0f} ({100 * r['rate429']:.1f} %) | {r['failed']:.0f} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,98")
    parser.add_argument("--limits", default="60,250")
    parser.add_argument("--step", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    rows = [
        measure(int(size), int(limit), args.step, args.concurrency)
        for size in args.sizes.split(",")
        for limit in args.limits.split(",")
    ]
    print_table(rows)


if __name__ == "__main__":
    main()
