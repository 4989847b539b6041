"""``python -m rotator.sandbox``: run the sandbox in the foreground.

Prints one line, the base URL, then serves until SIGINT or SIGTERM. With
``--state FILE`` the world is loaded from FILE at start (seeded and written
when FILE does not exist yet) and saved atomically after each change. Use
the admin API (``POST /_sandbox/tokens`` with ``{"scopes": [...]}``) to get
a token.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from rotator.sandbox import Sandbox


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rotator.sandbox",
        description="A local DigitalOcean API for rotator's demo and tests (loopback only).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address (default %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="port, 0 for a free one (default 0)")
    parser.add_argument("--state", type=Path, help="state file: loaded at start, saved on change")
    parser.add_argument("--rate-per-minute", type=int, default=250)
    parser.add_argument("--rate-per-hour", type=int, default=5000)
    parser.add_argument("--deployment-step-seconds", type=float, default=0.2)
    parser.add_argument("--no-seed", action="store_true", help="start with an empty account")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run until interrupted; 0 on a clean stop, 2 on bad arguments."""
    options = _parser().parse_args(argv)
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    try:
        sandbox = Sandbox(
            options.state,
            rate_per_minute=options.rate_per_minute,
            rate_per_hour=options.rate_per_hour,
            deployment_step_seconds=options.deployment_step_seconds,
            seed=not options.no_seed,
        )
        sandbox.start(options.host, options.port)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print(sandbox.url, flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
