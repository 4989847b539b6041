"""Several `rotator run` replicas on one PostgreSQL store, as an operator runs them.

Three replicas rotate a fleet of 30 due policies, each key pushed to an App
Platform app of its own: every policy is rotated exactly once (the sandbox
saw one key creation per policy), no `rotator-*` key is left unrecorded,
and every alert is sent once. Then the same with failures: one replica is
SIGKILLed right after a mutating request (the sandbox's kill fault after the
key's create, or after the app's PUT), another is SIGSTOPped while it holds
a policy's lease until the lease has expired and another replica has taken
the policy over, then SIGCONTinued. The invariants of the single-node crash
tests hold, and the paused replica's late write is refused by its fencing
token (LeaseLost, in its log).

Lease TTL 6 s (renewed every 2 s); every wait has a deadline.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import psycopg
import pytest

from tests.support.cli import ROTATION_SCOPES, assert_one_line_error, media_policy
from tests.support.replicas import Fleet, Replica, fleet, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
TTL = 6.0
ROTATE_ALL = 300.0  # seconds: the most 30 rotations may take on a loaded machine


def _store_view(world: Fleet) -> tuple[dict, dict, Counter]:
    current = {
        row[0]: (row[1], row[2])
        for row in world.sql(
            "SELECT policy, current_access_key, previous_access_key FROM policy_keys"
        )
    }
    in_flight = {
        row[0]: (row[1], row[2])
        for row in world.sql(
            "SELECT policy, new_access_key, new_key_name FROM rotations "
            "WHERE state NOT IN ('succeeded', 'abandoned')"
        )
    }
    per_policy = Counter(
        row[0]
        for row in world.sql(
            "SELECT policy FROM rotations WHERE state NOT IN ('succeeded', 'abandoned')"
        )
    )
    return current, in_flight, per_policy


def _consistent_view(world: Fleet) -> tuple[dict, dict, Counter, dict, dict]:
    """The store, the sandbox's keys and the apps' env at one moment of the store.

    The replicas keep working while we look: a view counts only when the store
    read before and after the sandbox's is the same (else a key made or deleted
    in between would look unrecorded, or a recorded one missing). The sandbox
    answers nothing while we look, so the store soon holds still even when the
    replicas never pause between items.
    """
    for _ in range(50):
        with world.sandbox.state.lock:
            time.sleep(0.05)  # what the replicas heard just before is recorded now
            before = _store_view(world)
            keys = world.keys_by_policy()
            envs = {p: world.sandbox.app_running_env(world.apps[p], "web") for p in keys}
            if _store_view(world) == before:
                return (*before, keys, envs)
        time.sleep(0.2)
    raise AssertionError("the store never held still for one look at the sandbox")


def _pause_holding_a_lease(world: Fleet, replica: Replica) -> list[str]:
    """SIGSTOP *replica* while it holds a policy's lease; the leases it holds.

    A lease seen a moment before the signal may have been let go by the time
    it lands: then the replica is let go on and paused again at its next lease.
    """
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        wait_for(lambda: bool(world.leases_of(replica)), timeout=120, what="a lease to pause on")
        replica.signal(signal.SIGSTOP)
        held = world.leases_of(replica)
        if held:
            return held
        replica.signal(signal.SIGCONT)
    raise AssertionError("the replica never held a lease when paused, in 120 s")


def assert_invariants(world: Fleet, *, finished: bool) -> None:
    """The single-node crash invariants, for every policy of the fleet."""
    current, in_flight, per_policy, keys_by_policy, envs = _consistent_view(world)
    assert all(count == 1 for count in per_policy.values()), per_policy
    for policy, keys in keys_by_policy.items():
        alive = {key["access_key"]: key for key in keys}
        # At most the current and previous keys exist for the policy.
        assert len(alive) <= 2, (policy, sorted(alive))
        # Every sink holds a key that exists, and its secret opens that key.
        env = envs[policy]
        assert env["SPACES_KEY"] in alive, (policy, env["SPACES_KEY"], sorted(alive))
        assert env["SPACES_SECRET"] == alive[env["SPACES_KEY"]]["secret_key"]
        # No key rotator created is left unrecorded (one made just before a kill is
        # findable by its planned name, and is deleted by whoever resumes).
        recorded = set(current.get(policy, (world.original[policy], None)))
        new_key, planned_name = in_flight.get(policy, (None, None))
        recorded |= {new_key}
        made = {
            access
            for access, key in alive.items()
            if key["name"].startswith(f"rotator-{policy}-") and key["name"] != planned_name
        }
        assert made <= recorded, (policy, made, recorded)
        if finished:
            assert list(alive) == [current[policy][0]], (policy, sorted(alive))
            assert env["SPACES_KEY"] == current[policy][0]


def rotated_once_each(world: Fleet) -> None:
    succeeded = Counter(
        row[0] for row in world.sql("SELECT policy FROM rotations WHERE state = 'succeeded'")
    )
    assert succeeded == Counter(world.policies), succeeded
    promoted = Counter(subject for subject, _ in world.history("rotation_promoted"))
    assert promoted == Counter(world.policies), promoted


def alerts_sent_once(world: Fleet) -> None:
    wait_for(
        lambda: len(world.alerts("rotation_succeeded")) >= len(world.policies),
        timeout=120,
        what="a rotation_succeeded alert per policy",
    )
    wait_for(
        lambda: (
            world.sql(
                "SELECT count(*) FROM alert_outbox "
                "WHERE delivered_at IS NULL AND gave_up_at IS NULL"
            )
            == [(0,)]
        ),
        timeout=60,
        what="the outbox to drain",
    )
    assert Counter(world.alerts("rotation_succeeded")) == Counter(world.policies)
    assert Counter(world.alerts("key_revoked")) <= Counter(world.policies)


def test_three_replicas_rotate_every_policy_exactly_once_and_alert_once(tmp_path, postgres_url):
    with fleet(tmp_path, postgres_url, size=30, lease_ttl=f"{TTL:.0f}s") as world:
        replicas = [world.start(name) for name in ("r1", "r2", "r3")]
        wait_for(
            lambda: world.finished() == set(world.policies),
            timeout=ROTATE_ALL,
            what="every policy rotated and its old key revoked",
        )
        # One key creation per policy, seen by the sandbox itself.
        assert world.key_creations() == len(world.policies)
        rotated_once_each(world)
        assert_invariants(world, finished=True)
        alerts_sent_once(world)
        # `rotator status --json` lists the replicas and where each runs.
        status = json.loads(world.cli("status", "--json").stdout)
        listed = {r["pid"]: r for r in status["replicas"]}
        assert set(listed) == {r.pid for r in replicas}
        for replica in status["replicas"]:
            assert set(replica) >= {"id", "host", "pid", "version", "last_seen"}
        assert all(p["in_flight"] is None for p in status["policies"])
        for replica in replicas:
            assert replica.alive(), replica.text()[-2000:]
            assert "Traceback" not in replica.text()


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v2/spaces/keys"), ("PUT", "/v2/apps/[^/]+")],
    ids=["killed-after-create", "killed-after-app-put"],
)
def test_a_killed_and_a_paused_replica_leave_every_invariant_and_the_pause_is_fenced(
    tmp_path, postgres_url, method, path
):
    with fleet(
        tmp_path, postgres_url, size=30, lease_ttl=f"{TTL:.0f}s", deployment_step_seconds=0.5
    ) as world:
        doomed = world.start("killed")
        paused = world.start("paused")
        steady = world.start("steady")
        world.sandbox.add_fault(
            method=method, path=path, kill_pid=doomed.pid, kill_signal=signal.SIGKILL, times=1
        )
        wait_for(lambda: not doomed.alive(), timeout=120, what="the kill fault to fire")
        assert doomed.process.returncode == -signal.SIGKILL
        assert_invariants(world, finished=False)

        # Pause a replica while it holds a policy's lease, past the lease's expiry.
        held = _pause_holding_a_lease(world, paused)
        try:
            time.sleep(TTL + 1)
            assert_invariants(world, finished=False)

            def taken_over() -> bool:
                # Another replica holds each item now, or has finished its policy.
                done = world.finished()
                for item in held:
                    policy = item.removeprefix("policy:")
                    holders = world.sql(
                        "SELECT r.pid FROM leases l JOIN replicas r ON r.id = l.holder "
                        "WHERE l.item = %s",
                        (item,),
                    )
                    if policy not in done and holders == [(paused.pid,)]:
                        return False
                return True

            wait_for(taken_over, timeout=120, what="the paused replica's items taken over")
        finally:
            paused.signal(signal.SIGCONT)

        wait_for(
            lambda: world.finished() == set(world.policies),
            timeout=ROTATE_ALL,
            what="every policy rotated after the failures",
        )
        # The paused replica woke up past its lease: its next write was refused.
        wait_for(
            lambda: "lease lost on policy:" in paused.text(),
            timeout=180,  # only a hung test's deadline: a loaded 2-core machine is slow
            what="the paused replica to report its lost lease",
        )
        assert_invariants(world, finished=True)
        rotated_once_each(world)
        assert paused.alive() and steady.alive(), paused.text()[-2000:]
        lost = world.sql("SELECT sum(leases_lost) FROM replicas")
        assert lost[0][0] and lost[0][0] >= 1


def test_a_command_does_not_rotate_a_policy_a_replica_holds(rotator, sandbox, postgres_url):
    rotator.env["ROTATOR_DATABASE_URL"] = postgres_url
    rotator.config.write_text(media_policy(sandbox.app_ids()[0]))
    assert rotator("init").code == 0
    assert rotator.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(
            "INSERT INTO leases (item, holder, token, acquired_at, expires_at) VALUES "
            "('policy:media', 'node-2-4242-abcdef', 7, 0, "
            "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT) + 60000)"
        )
    refused = rotator("rotate", "media")
    assert_one_line_error(refused, 1, "policy 'media' is being worked on by node-2-4242-abcdef")
    abandon = rotator("rotate", "media", "--abandon", "--yes")
    assert_one_line_error(abandon, 1, "being worked on by node-2-4242-abcdef")
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE leases SET expires_at = 0")  # the replica died: its lease ran out
    done = rotator("rotate", "media", "--json")
    assert done.code == 0, done.output
    assert json.loads(done.stdout)["status"] == "succeeded"
    with psycopg.connect(postgres_url, autocommit=True) as db:
        [(token, holder, alive)] = db.execute(
            "SELECT token, holder, expires_at > "
            "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT) FROM leases"
        ).fetchall()
    assert token == 8 and holder.startswith("cli-") and not alive  # claimed, then released
