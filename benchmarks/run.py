"""Run every benchmark and print its table: `.venv/bin/python benchmarks/run.py`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli_startup
import daemon_idle
import validate_connections  # noqa: E402


def main() -> None:
    validate_connections.main(sys.argv[1:])
    daemon_idle.main([])
    cli_startup.main([])


if __name__ == "__main__":
    main()
