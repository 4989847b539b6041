"""Several `rotator run` processes on one PostgreSQL store and one sandbox: a fleet to rotate.

:class:`Fleet` arranges the world: a sandbox whose clock started 30 days in
the past (so the fleet's keys are old enough to be due), ``size`` Spaces
keys each pushed to an app of its own, one connection, one policy per key,
a webhook receiver for alerts, and a shared master key file. It starts
``rotator run`` replicas as subprocesses, each with a state directory of its
own (its lock files) and its log in a file, and reads the store directly
with psycopg to see progress. Used by the multi-replica tests and the
``benchmarks/replicas.py`` benchmark.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

from rotator.sandbox import Sandbox
from rotator.sandbox.receiver import Receiver
from rotator.sandbox.seed import demo_spec

ROTATION_SCOPES = [
    "account:read",
    "spaces_key:read",
    "spaces_key:create_credentials",
    "spaces_key:delete",
    "app:read",
    "app:update",
]
WEBHOOK_SECRET = "whsec-replicas-5e1f0a2b3c4d"
PAST = 30 * 86400.0  # how far in the past the sandbox's clock starts


class ShiftedClock:
    """time.time() moved by ``offset`` seconds (the sandbox's clock)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


class Replica:
    """One `rotator run` process."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, number: int) -> None:
        if self.alive():
            os.kill(self.pid, number)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (after SIGCONT, in case it is stopped), then SIGKILL past *timeout*."""
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


class Fleet:
    """The world several replicas rotate: sandbox, store, policies, alert receiver."""

    def __init__(
        self,
        home: Path,
        database_url: str,
        *,
        size: int = 30,
        tokens: int = 1,
        lease_ttl: str = "6s",
        deployment_step_seconds: float = 0.3,
        rate_per_minute: int = 100_000,
        requests_per_minute: int = 100_000,
        grace: str = "1s",
    ) -> None:
        self.home = home
        self.database_url = database_url
        self.size = size
        self.clock = ShiftedClock(-PAST)
        self.sandbox = Sandbox(
            seed=False,
            clock=self.clock,
            deployment_step_seconds=deployment_step_seconds,
            rate_per_minute=rate_per_minute,
            rate_per_hour=max(rate_per_minute * 60, 5000),
        ).start()
        self.receiver = Receiver().start()
        self.replicas: list[Replica] = []
        self.policies = [f"p{i:02d}" for i in range(1, size + 1)]
        self.apps: dict[str, str] = {}
        self.original: dict[str, str] = {}
        grants = [{"bucket": "fleet", "permission": "readwrite"}]
        for policy in self.policies:
            key = self.sandbox.add_spaces_key(f"fleet-{policy}", grants)
            spec = copy.deepcopy(demo_spec(key["access_key"], key["secret_key"]))
            spec["name"] = f"fleet-{policy}"
            self.apps[policy] = self.sandbox.add_app(spec)
            self.original[policy] = key["access_key"]
        self.clock.offset = 0.0  # the keys are 30 days old now: every policy is due
        self.connections = [f"c{n}" for n in range(1, tokens + 1)]
        self.tokens = {name: self.sandbox.add_token(ROTATION_SCOPES) for name in self.connections}
        secret = home / "webhook-secret"
        secret.write_text(WEBHOOK_SECRET + "\n")
        self.config = home / "rotator.toml"
        self.config.write_text(
            self._config(lease_ttl, requests_per_minute, grace, secret), encoding="utf-8"
        )
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "ROTATOR_CONFIG": str(self.config),
            "ROTATOR_DATABASE_URL": database_url,
            "ROTATOR_MASTER_KEY_FILE": str(home / "master.key"),
            "ROTATOR_STATE_DIR": str(home / "cli-state"),
            "ROTATOR_DO_API_URL": self.sandbox.url,
            "ROTATOR_DO_OAUTH_URL": self.sandbox.url,
            "ROTATOR_DO_REGISTRY_URL": self.sandbox.url,
        }
        self.cli("init")
        for name, token in self.tokens.items():
            self.cli("connection", "add", name, "--token-stdin", stdin=token)

    def _config(self, lease_ttl: str, per_minute: int, grace: str, secret: Path) -> str:
        text = (
            f'[daemon]\nlease_ttl = "{lease_ttl}"\n'
            '[digitalocean]\nretries = 1\ntimeout = "5s"\n'
            f"requests_per_minute = {per_minute}\nrequests_per_hour = {per_minute * 60}\n"
            f'[[alerts]]\ntype = "webhook"\nname = "ops"\nurl = "{self.receiver.url}/hook"\n'
            f'secret_file = "{secret}"\n'
        )
        for number, policy in enumerate(self.policies):
            connection = self.connections[number % len(self.connections)]
            text += (
                f'\n[[policies]]\nname = "{policy}"\nconnection = "{connection}"\n'
                f'spaces_key = "fleet-{policy}"\nevery = "7d"\ngrace = "{grace}"\n'
                f'[[policies.sinks]]\ntype = "app_platform"\napp_id = "{self.apps[policy]}"\n'
                'component = "web"\naccess_key_env = "SPACES_KEY"\n'
                'secret_key_env = "SPACES_SECRET"\n'
            )
        return text

    # -- processes -------------------------------------------------------------------

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "rotator", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def start(self, name: str) -> Replica:
        state = self.home / name
        state.mkdir(mode=0o700, exist_ok=True)  # its lock files (`rotator init` on a host)
        log = self.home / f"{name}.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                [sys.executable, "-m", "rotator", "-v", "run"],
                env={**self.env, "ROTATOR_STATE_DIR": str(state)},
                stdout=subprocess.DEVNULL,
                stderr=handle,
            )
        replica = Replica(name, process, log)
        self.replicas.append(replica)
        return replica

    def close(self) -> None:
        for replica in self.replicas:
            replica.stop()
        self.receiver.stop()
        self.sandbox.stop()

    # -- reading the store -----------------------------------------------------------

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as db:
            return db.execute(statement, params).fetchall()  # type: ignore[arg-type]

    def finished(self) -> set[str]:
        """Policies rotated, promoted and with the previous key revoked."""
        rows = self.sql(
            "SELECT policy FROM policy_keys WHERE current_rotation_id IS NOT NULL "
            "AND previous_access_key IS NULL"
        )
        in_flight = {row[0] for row in self.sql(_IN_FLIGHT)}
        return {row[0] for row in rows} - in_flight

    def promoted(self) -> set[str]:
        return {
            row[0]
            for row in self.sql(
                "SELECT policy FROM policy_keys WHERE current_rotation_id IS NOT NULL"
            )
        }

    def leases_of(self, replica: Replica) -> list[str]:
        """The policy leases *replica* holds now."""
        rows = self.sql(
            "SELECT l.item FROM leases l JOIN replicas r ON r.id = l.holder "
            "WHERE r.pid = %s AND l.item LIKE 'policy:%%' "
            "AND l.expires_at > CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)",
            (replica.pid,),
        )
        return [row[0] for row in rows]

    def history(self, event: str) -> list[tuple[str, str]]:
        return [
            (row[0], row[1])
            for row in self.sql(
                "SELECT subject, detail FROM audit_log WHERE event = %s ORDER BY id", (event,)
            )
        ]

    # -- the sandbox's truth ---------------------------------------------------------

    def key_creations(self) -> int:
        """Keys created over the API (201 answers to POST /v2/spaces/keys)."""
        return sum(
            1
            for entry in self.sandbox.requests()
            if entry["method"] == "POST"
            and entry["path"] == "/v2/spaces/keys"
            and entry["status"] == 201
        )

    def keys_by_policy(self) -> dict[str, list[dict[str, Any]]]:
        keys: dict[str, list[dict[str, Any]]] = {policy: [] for policy in self.policies}
        for key in self.sandbox.spaces_keys():
            name = key["name"]
            for policy in self.policies:
                if name == f"fleet-{policy}" or name.startswith(f"rotator-{policy}-"):
                    keys[policy].append(key)
        return keys

    def alerts(self, event: str) -> list[str]:
        """The policies of the *event* alerts the receiver got (in order)."""
        found = []
        for request in self.receiver.requests:
            body = request.json()
            if body.get("event") == event and not body.get("resolved"):
                found.append(body.get("subject"))
        return found


_IN_FLIGHT = "SELECT policy FROM rotations WHERE state NOT IN ('succeeded', 'abandoned')"


def wait_for(
    condition: Callable[[], bool], *, timeout: float, what: str, every: float = 0.25
) -> None:
    """Poll *condition* until true; fail naming *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@contextlib.contextmanager
def fleet(home: Path, database_url: str, **options: Any) -> Iterator[Fleet]:
    world = Fleet(home, database_url, **options)
    try:
        yield world
    finally:
        world.close()
