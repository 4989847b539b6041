"""Scope audit of many tokens by the daemon's worker pool, 50 ms added to every request.

``rotator run --once`` (a subprocess) audits N connections (each its own
token, validated just now so only the audit is due) on ``daemon.concurrency``
workers, in token-info mode (one call: the OAuth server names the scopes)
and in probe mode (token info refused, so every scope is probed). Measured:
the audit job's wall time against the bound ``calls x latency ÷
concurrency``, calls as the sandbox saw them. Goal: ≤ 1.3 x the bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
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


def measure(tokens: int, mode: str, latency: float, concurrency: int) -> dict[str, float]:
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
        started = time.monotonic()
        result = home("run", "--once", "--json", timeout=3600)
        total = time.monotonic() - started
        assert result.code == 0, result.stderr[-2000:]
        jobs = {job["job"]: job for job in json.loads(result.stdout)["jobs"]}
        audit = jobs["audit"]
        calls = len(sandbox.requests())
        bound = calls * latency / concurrency
        return {
            "tokens": tokens,
            "mode": mode,
            "calls": calls,
            "wall": audit["seconds"],
            "process": total,
            "bound": bound,
            "failed": audit["failed"],
        }


def print_table(rows: list[dict[str, object]], latency: float, concurrency: int) -> None:
    print(f"audit of N tokens, {latency * 1000:.0f} ms added latency, concurrency {concurrency}")
    print(
        "| tokens | mode | calls | audit job wall (s) | bound calls x latency ÷ concurrency (s) "
        "| wall/bound (goal ≤ 1.3) | failed |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        wall, bound = float(r["wall"]), float(r["bound"])  # type: ignore[arg-type]
        print(
            f"| {r['tokens']} | {r['mode']} | {r['calls']} | {wall:.1f} | {bound:.1f} | "
            f"{wall / bound:.2f} | {r['failed']} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    rows: list[dict[str, object]] = [
        measure(args.tokens, mode, args.latency, args.concurrency)
        for mode in ("token-info", "probes")
    ]
    print_table(rows, args.latency, args.concurrency)


if __name__ == "__main__":
    main()
