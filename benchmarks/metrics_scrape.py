"""How long a ``/metrics`` scrape takes as the store grows.

A scrape reads the store with four aggregate queries (``rotator.store.readings``)
and renders the registry. This fills a fresh store with N connections (each
validated and audited), N policies (each rotated once, a tenth with a
rotation in flight) and 10 N queued alerts, then renders the page R times
and prints the median and 90th percentile wall time per scrape, with the
page's size. Run: ``.venv/bin/python benchmarks/metrics_scrape.py [--sizes 10 100 1000]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rotator.crypto import Keyring, MasterKey, token_hash
from rotator.digitalocean.spaces import Grant
from rotator.digitalocean.stats import ClientStats
from rotator.engine.metrics import DaemonMetrics
from rotator.secret import Secret
from rotator.store import Store, ValidationRecord
from rotator.store.readings import open_read_only, read_store

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Policy:
    name: str
    every: timedelta = timedelta(days=30)
    grace: timedelta = timedelta(hours=1)


def fill(store: Store, size: int) -> None:
    for number in range(size):
        name = f"conn{number:05d}"
        token = Secret(f"dop_v1_{number:064x}")
        store.connections.add(name, "", token, "personal", None)
        store.connections.record_validation(
            name,
            ValidationRecord("valid", "ok", START, token_expires_at=START + timedelta(days=90)),
        )
        store.scopes.save(name, token_hash(token), START, {"verdict": "ok"}, outcome="ok")
        records = store.rotations
        policy = f"policy{number:05d}"
        records.adopt(policy, f"OLD{number}")
        record = records.begin(
            policy, f"r{number}", f"OLD{number}", f"{policy}-r", (Grant("b", "read"),)
        )
        if number % 10:
            records.record_created(record, f"NEW{number}", Secret("s" * 40))
            created = records.in_flight(policy)
            assert created is not None
            records.promote(created, timedelta(hours=1))
    with store.transaction():
        for _ in range(size):
            channels = [f"channel{i}" for i in range(10)]
            store.outbox.enqueue(channels, "token_invalid", "conn", "{}", START)


def measure(size: int, repeats: int) -> tuple[float, float, int]:
    keyring = Keyring(MasterKey.from_text(MasterKey.generate_text(), "bench"))
    with tempfile.TemporaryDirectory() as temporary:
        state = Path(temporary) / "state"
        with Store.create(state, keyring, now=lambda: START) as store:
            fill(store, size)

        def read():
            with closing(open_read_only(state / "rotator.db")) as db:
                return read_store(db)

        policies = [Policy(f"policy{number:05d}") for number in range(size)]
        metrics = DaemonMetrics(
            ClientStats(), started_at=0, read_store=read, policies=lambda: policies
        )
        page = metrics.render()  # warm: page cache, prepared statements
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            metrics.render()
            times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1], len(page)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    print("metrics scrape: connections = policies = N, alerts queued = 10 N")
    print(f"{'N':>6}  {'median ms':>10}  {'p90 ms':>8}  {'page KiB':>9}")
    for size in args.sizes:
        median, p90, length = measure(size, args.repeats)
        print(f"{size:>6}  {median * 1000:>10.1f}  {p90 * 1000:>8.1f}  {length / 1024:>9.1f}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
