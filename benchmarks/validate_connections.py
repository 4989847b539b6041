"""Validate 1,000 registered connections against the sandbox with 50 ms added latency.

The sandbox runs in its own process (so it does not share the client's GIL)
with a delay fault on every request. Each concurrency level validates every
connection once through the same code path as ``rotator connection validate
--all``; the table shows wall time, throughput, API calls and 429s as the
sandbox saw them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from rotator.crypto import Keyring, MasterKey
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.ratelimit import Pacer
from rotator.digitalocean.stats import ClientStats
from rotator.secret import Secret
from rotator.services.validate import validate_connections
from rotator.store import Store


@contextmanager
def sandbox_process() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "rotator.sandbox", "--port", "0", "--no-seed"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def run(connections: int, latency: float, levels: list[int]) -> list[dict[str, object]]:
    rows = []
    with (
        sandbox_process() as url,
        httpx.Client(base_url=url, timeout=30) as admin,
        tempfile.TemporaryDirectory() as workdir,
    ):
        tokens = [
            admin.post("/_sandbox/tokens", json={"scopes": ["account:read"]}).json()["token"]
            for _ in range(connections)
        ]
        admin.post("/_sandbox/faults", json={"delay": latency, "times": None}).raise_for_status()
        keyring = Keyring(MasterKey.from_text(MasterKey.generate_text(), "benchmark"))
        with Store.create(Path(workdir) / "state", keyring) as store:
            for number, token in enumerate(tokens):
                store.connections.add(f"c{number:04d}", "", Secret(token), "personal", None)
            registered = store.connections.all()
            for concurrency in levels:
                admin.delete("/_sandbox/requests").raise_for_status()
                stats = ClientStats()
                with httpx.Client(limits=httpx.Limits(max_connections=concurrency * 2)) as http:
                    pacer = Pacer()

                    def clients(
                        token: Secret,
                        http: httpx.Client = http,
                        pacer: Pacer = pacer,
                        stats: ClientStats = stats,
                    ) -> DigitalOceanClient:
                        return DigitalOceanClient(
                            token, api_url=url, oauth_url=url, http=http, pacer=pacer, stats=stats
                        )

                    started = time.perf_counter()
                    outcomes = validate_connections(
                        store, registered, clients, concurrency=concurrency
                    )
                    wall = time.perf_counter() - started
                seen = admin.get("/_sandbox/requests").json()["requests"]
                statuses = Counter(o.status for o in outcomes)
                rows.append(
                    {
                        "concurrency": concurrency,
                        "connections": len(outcomes),
                        "wall_s": wall,
                        "per_s": len(outcomes) / wall,
                        "api_calls": len(seen),
                        "http_429": sum(r["status"] == 429 for r in seen),
                        "client_calls": stats.snapshot().calls,
                        "valid": statuses["valid"],
                        "not_valid": len(outcomes) - statuses["valid"],
                    }
                )
    return rows


def print_table(rows: list[dict[str, object]], latency: float) -> None:
    print(f"validate N connections, {latency * 1000:.0f} ms added latency per request")
    headers = [
        "concurrency",
        "connections",
        "wall (s)",
        "conn/s",
        "API calls",
        "429s",
        "valid",
        "not valid",
    ]
    print(" | ".join(headers))
    print(" | ".join("-" * len(h) for h in headers))
    for row in rows:
        print(
            f"{row['concurrency']:>11} | {row['connections']:>11} | {row['wall_s']:>8.2f} | "
            f"{row['per_s']:>6.1f} | {row['api_calls']:>9} | {row['http_429']:>4} | "
            f"{row['valid']:>5} | {row['not_valid']:>9}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", default="8,16,32,64")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.concurrency.split(",")]
    print_table(run(args.connections, args.latency, levels), args.latency)


if __name__ == "__main__":
    main()
