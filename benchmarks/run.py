"""Run every benchmark and print its table: `.venv/bin/python benchmarks/run.py`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli_startup
import daemon_idle
import fleet_audit
import fleet_cli
import fleet_engine
import metrics_scrape
import rate_budget
import validate_connections


def main() -> None:
    validate_connections.main(sys.argv[1:])
    daemon_idle.main([])
    fleet_cli.main([])
    cli_startup.main([])
    rate_budget.main([])
    metrics_scrape.main([])
    fleet_engine.main([])
    fleet_audit.main([])


if __name__ == "__main__":
    main()
