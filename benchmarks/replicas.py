"""Several replicas: fleet rotation throughput with 1, 2 and 3 replicas, and failover time.

Throughput: a fleet of due policies (each key pushed to an App Platform app
of its own, in the sandbox, deployments of ``--step`` seconds a phase) is
rotated by 1, 2 and 3 ``rotator run`` processes on one throw-away
PostgreSQL, with the policies on one token and on three tokens. The sandbox
enforces DigitalOcean's limits (250 requests a minute per token by default)
and every replica is configured with the same figure: they share it through
the store's rate budget per token. The table gives the wall time until every
policy was rotated and its old key revoked, rotations per minute, and the
429 answers the sandbox sent.

Failover: two replicas rotate a larger fleet; 20 times, the replica holding
the lease of a policy whose rotation is in flight is SIGKILLed (and a new
one started in its place, as Kubernetes would), and the time until another
replica holds that policy's lease (a larger fencing token) is measured; a
kill that lands just after the rotation was promoted is not counted. Its
distribution (min, median, max) is printed; it is bounded by the lease TTL
(``--ttl``) plus the survivor's current step.

Needs PostgreSQL's server binaries (Debian's ``postgresql`` package).
``python benchmarks/replicas.py [--size 30] [--kills 20] [--ttl 6s]
[--skip-throughput] [--skip-failover]``.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.postgres import PostgresCluster, server_bindir
from tests.support.replicas import Fleet, Replica, wait_for

ROTATE_ALL = 900.0  # seconds: the most one throughput run may take
_IN_FLIGHT = (
    "SELECT id FROM rotations WHERE policy = %s AND state NOT IN ('succeeded', 'abandoned')"
)


def _throughput(
    cluster: PostgresCluster, *, replicas: int, tokens: int, size: int, step: float, ttl: str
) -> tuple[float, int]:
    home = Path(tempfile.mkdtemp(prefix="rotator-bench-replicas-"))
    url = cluster.url(cluster.create_database())
    world = Fleet(
        home,
        url,
        size=size,
        tokens=tokens,
        lease_ttl=ttl,
        deployment_step_seconds=step,
        rate_per_minute=250,
        requests_per_minute=250,
    )
    try:
        world.sandbox.reset_request_log()
        started = time.monotonic()
        for number in range(replicas):
            world.start(f"r{number + 1}")
        wait_for(
            lambda: world.finished() == set(world.policies),
            timeout=ROTATE_ALL,
            what="every policy rotated",
            every=0.2,
        )
        seconds = time.monotonic() - started
        limited = sum(1 for entry in world.sandbox.requests() if entry["status"] == 429)
        return seconds, limited
    finally:
        world.close()


def _holder(world: Fleet, replicas: list[Replica]) -> tuple[Replica, str, int] | None:
    """A live replica holding a policy lease now, with the item and its token."""
    for replica in replicas:
        if not replica.alive():
            continue
        rows = world.sql(
            "SELECT l.item, l.token FROM leases l JOIN replicas r ON r.id = l.holder "
            "WHERE r.pid = %s AND l.item LIKE 'policy:%%' "
            "AND l.expires_at > CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)",
            (replica.pid,),
        )
        if rows:
            return replica, str(rows[0][0]), int(rows[0][1])
    return None


def _failover(
    cluster: PostgresCluster, *, kills: int, size: int, step: float, ttl: str
) -> list[float]:
    home = Path(tempfile.mkdtemp(prefix="rotator-bench-failover-"))
    url = cluster.url(cluster.create_database())
    world = Fleet(home, url, size=size, lease_ttl=ttl, deployment_step_seconds=step)
    times: list[float] = []
    try:
        live = [world.start("a0"), world.start("b0")]
        number = 0
        while len(times) < kills and number < kills * 2:
            number += 1
            found: tuple[Replica, str, int] | None = None

            def holding() -> bool:
                nonlocal found
                found = _holder(world, live)
                return found is not None

            wait_for(holding, timeout=120, what="a replica holding a policy", every=0.05)
            assert found is not None
            victim, item, token = found
            victim.signal(signal.SIGKILL)
            killed = time.monotonic()
            victim.process.wait(10)
            live.remove(victim)
            live.append(world.start(f"k{number}"))  # the replacement, as Kubernetes would
            policy = item.removeprefix("policy:")
            if not world.sql(_IN_FLIGHT, (policy,)):
                # Promoted just before the kill: its revoke waits for the grace period and
                # for the survivor's current job run, which is not a failover to time.
                print(f"  kill {number:2d}: {item} had no rotation in flight; not counted")
                continue

            def resumed(item: str = item, token: int = token) -> bool:
                rows = world.sql("SELECT token FROM leases WHERE item = %s", (item,))
                return bool(rows) and int(rows[0][0]) > token

            wait_for(resumed, timeout=120, what=f"{item} taken over", every=0.05)
            times.append(time.monotonic() - killed)
            print(f"  kill {number:2d}: {item} resumed after {times[-1]:.1f}s", flush=True)
            if len(world.promoted()) >= size - 2:
                print("  (fleet nearly done: stopping early)")
                break
        return times
    finally:
        world.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=30, help="policies in the fleet")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--ttl", default="6s", help="daemon.lease_ttl")
    parser.add_argument("--step", type=float, default=0.3, help="deployment phase, seconds")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-failover", action="store_true")
    options = parser.parse_args(argv)
    bindir = server_bindir()
    if bindir is None:
        print("replicas: skipped (no PostgreSQL server binaries)")
        return
    cluster = PostgresCluster(bindir)
    cluster.start()
    try:
        if not options.skip_throughput:
            print(
                f"fleet rotation: {options.size} policies, one app each, deployment "
                f"phases of {options.step}s, 250 requests/min per token, lease TTL {options.ttl}"
            )
            print(f"{'replicas':>8} {'tokens':>6} {'seconds':>8} {'rotations/min':>14} {'429s':>5}")
            for tokens in (1, 3):
                for replicas in (1, 2, 3):
                    seconds, limited = _throughput(
                        cluster,
                        replicas=replicas,
                        tokens=tokens,
                        size=options.size,
                        step=options.step,
                        ttl=options.ttl,
                    )
                    rate = options.size / seconds * 60
                    print(f"{replicas:>8} {tokens:>6} {seconds:>8.1f} {rate:>14.1f} {limited:>5}")
        if options.skip_failover:
            return
        print(f"failover: {options.kills} SIGKILLs of the replica holding a policy's lease")
        times = _failover(
            cluster,
            kills=options.kills,
            size=max(options.size, options.kills * 3),
            step=1.0,
            ttl=options.ttl,
        )
        print(
            f"kill → resumed, {len(times)} kills (lease TTL {options.ttl}): "
            f"min {min(times):.1f}s, median {statistics.median(times):.1f}s, "
            f"max {max(times):.1f}s"
        )
    finally:
        cluster.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
