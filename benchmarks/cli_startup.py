"""How long the CLI takes to start, next to a bare ``python3 -c pass``.

Every command an operator or a script runs pays the interpreter's start-up
plus rotator's imports; this shows the second part. Each command runs once
unmeasured (so .pyc files and the page cache are warm, as on a server), then
N times; the table gives the median, 90th percentile and minimum wall time
of the whole process, and the median minus bare Python's. ``connection
list`` runs against a freshly initialised store holding one connection, in a
temporary directory, with an empty config file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN = "dop_v1_" + "0" * 64


def rotator_command() -> list[str]:
    """The console script beside this interpreter, as an operator would run it."""
    script = Path(sys.executable).parent / "rotator"
    return [str(script)] if script.exists() else [sys.executable, "-m", "rotator"]


def prepare(home: Path) -> dict[str, str]:
    """An initialised state directory with one connection, and the environment to reach it."""
    config = home / "rotator.toml"
    config.write_text("")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ROTATOR_STATE_DIR": str(home / "state"),
        "ROTATOR_CONFIG": str(config),
    }
    rotator = rotator_command()
    subprocess.run([*rotator, "init"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*rotator, "connection", "add", "prod", "--token-stdin", "--no-validate"],
        input=TOKEN,
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def timings(command: list[str], env: dict[str, str], runs: int) -> list[float]:
    subprocess.run(command, env=env, check=True, capture_output=True)  # warm-up
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(runs: int) -> list[tuple[str, list[float]]]:
    rotator = rotator_command()
    with tempfile.TemporaryDirectory() as workdir:
        env = prepare(Path(workdir))
        commands = [
            ("python3 -c pass", [sys.executable, "-c", "pass"]),
            ("rotator --version", [*rotator, "--version"]),
            ("rotator --help", [*rotator, "--help"]),
            ("rotator connection list", [*rotator, "connection", "list"]),
        ]
        return [(label, timings(command, env, runs)) for label, command in commands]


def print_table(rows: list[tuple[str, list[float]]], runs: int) -> None:
    print(f"CLI start-up, {runs} runs each (ms, wall time of the whole process)")
    baseline = statistics.median(rows[0][1])
    print("command                 | median |   p90 |   min | median - python")
    print("------------------------|-------:|------:|------:|---------------:")
    for label, seconds in rows:
        median = statistics.median(seconds)
        print(
            f"{label:<23} | {median * 1000:6.1f} | {percentile(seconds, 0.9) * 1000:5.1f} | "
            f"{min(seconds) * 1000:5.1f} | {(median - baseline) * 1000:+14.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    print_table(run(args.runs), args.runs)


if __name__ == "__main__":
    main()
