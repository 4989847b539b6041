"""`history`, `connection list` and `status` on a fleet's store, against an empty store.

Two stores, made alike by `rotator init`: one empty, one holding 10,000
connections and 1,000,000 audit-log rows (bulk SQL, :mod:`fleet_store`).
Each command runs once unmeasured (warm page cache and .pyc files), then N
times against each store; the table gives the median wall time of the whole
process and its peak resident memory (``ru_maxrss`` of that child alone, from
``wait4``), and the fleet's figure over the empty store's. Goal: peak RSS at
most 1.5 times the empty store's. Output goes to a pipe, drained as it comes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from fleet_store import environment, make_store, rotator_command

RSS_GOAL = 1.5

COMMANDS = [
    ("history", ["history"]),
    ("history --limit 100000 --json", ["history", "--limit", "100000", "--json"]),
    ("connection list", ["connection", "list"]),
    ("connection list --json", ["connection", "list", "--json"]),
    ("status", ["status"]),
    ("status --json", ["status", "--json"]),
]


def measure_once(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) and bytes written to stdout by one run of *command*."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0
    )
    assert process.stdout is not None
    written = 0
    while chunk := process.stdout.read(1 << 16):
        written += len(chunk)
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}")
    return seconds, usage.ru_maxrss / 1024, written


def measure(command: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    measure_once(command, env)  # warm-up
    results = [measure_once(command, env) for _ in range(runs)]
    return {
        "seconds": statistics.median(r[0] for r in results),
        "rss": statistics.median(r[1] for r in results),
        "bytes": results[0][2],
    }


def run(connections: int, audit_rows: int, runs: int) -> list[dict[str, object]]:
    rotator = rotator_command()
    with tempfile.TemporaryDirectory() as workdir:
        empty = environment(Path(workdir) / "empty")
        fleet = environment(Path(workdir) / "fleet")
        make_store(empty)
        started = time.perf_counter()
        make_store(fleet, connections=connections, audit_rows=audit_rows)
        print(
            f"(seeded {connections} connections and {audit_rows} audit rows "
            f"in {time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        rows: list[dict[str, object]] = []
        for label, arguments in COMMANDS:
            base = measure([*rotator, *arguments], empty, runs)
            big = measure([*rotator, *arguments], fleet, runs)
            rows.append({"command": label, "empty": base, "fleet": big})
    return rows


def print_table(rows: list[dict[str, object]], connections: int, audit_rows: int) -> None:
    print(
        f"CLI on {connections:,} connections and {audit_rows:,} audit rows vs an empty store "
        "(median of the runs)"
    )
    print(
        "command                        | empty (s) | fleet (s) | empty RSS (MiB) | "
        f"fleet RSS (MiB) | RSS ratio (goal ≤ {RSS_GOAL}) | output (KiB)"
    )
    print(
        "-------------------------------|----------:|----------:|----------------:|"
        "----------------:|------------------:|-----------:"
    )
    for row in rows:
        empty, fleet = row["empty"], row["fleet"]
        assert isinstance(empty, dict) and isinstance(fleet, dict)
        ratio = fleet["rss"] / empty["rss"]
        verdict = "ok" if ratio <= RSS_GOAL else "MISSED"
        print(
            f"{row['command']:<30} | {empty['seconds']:9.2f} | {fleet['seconds']:9.2f} | "
            f"{empty['rss']:15.1f} | {fleet['rss']:15.1f} | {ratio:12.2f} {verdict:>5} | "
            f"{fleet['bytes'] / 1024:10.0f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--audit-rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print_table(
        run(args.connections, args.audit_rows, args.runs), args.connections, args.audit_rows
    )


if __name__ == "__main__":
    main()
