"""SIGTERM ends `rotator run` whatever a peer does: drips, stalls, or a Vault that never answers.

Each case starts the real daemon (a subprocess) against the sandbox or a real
OpenBao behind the hostile proxy, waits until a request is in flight on the
misbehaving peer, sends SIGTERM and then requires:

- the process ends with exit code 0 and its "rotator run stopped" line (the
  process wait is a generous deadline that only fails a hung daemon; the
  peer alone would hold the request for a minute or for ever);
- no traceback, and the health listener never answers 200 once the stop is
  under way (`/healthz` and `/readyz` say "stopping", or nothing listens);
- what was in flight resumes at the next start: the stored token is
  untouched, and a stopped rotation is still in flight or was never begun.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from rotator.sandbox import Sandbox
from rotator.sandbox.openbao import OpenBao
from tests.engine.daemon_support import DaemonProcess
from tests.support.cli import ROTATION_SCOPES, Rotator, media_policy
from tests.support.proxy import HostileProxy

pytestmark = pytest.mark.timeout(240)

EXIT_DEADLINE = 60  # only a hung daemon misses it: the peers below hold a request far longer
WAIT = 60  # the most a test waits for the daemon to reach the point it needs
KEY_AGE = 3 * 3600  # the sandbox's seeded demo key is older than the policy's `every`


class Daemon(DaemonProcess):
    """`python -m rotator run` with its stderr collected, waited on up to :data:`WAIT`."""

    def wait_for(self, pattern: str, *, times: int = 1, timeout: float = WAIT) -> re.Match[str]:
        return super().wait_for(pattern, times=times, timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=5)


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def in_flight(proxy: HostileProxy, mode: str, path: str) -> Callable[[], bool]:
    return lambda: any(s.mode == mode and re.search(path, s.path) for s in proxy.seen)


def probe(url: str) -> int | None:
    """The health listener's status for *url*, or None when nothing answers."""
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


def stop_and_check(daemon: Daemon, health: str) -> None:
    """SIGTERM, then the stop's promises (see the module docstring)."""
    daemon.process.send_signal(signal.SIGTERM)
    daemon.wait_for(r"SIGTERM received")
    statuses = [probe(f"{health}/{path}") for path in ("healthz", "readyz")]
    try:
        code = daemon.process.wait(timeout=EXIT_DEADLINE)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after SIGTERM; the log:\n{daemon.log}") from None
    daemon.kill()  # joins the log reader
    assert code == 0, daemon.log
    assert "Traceback" not in daemon.log, daemon.log
    assert any(line.endswith("rotator run stopped") for line in daemon.lines), daemon.log
    assert 200 not in statuses, (statuses, daemon.log)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Sandbox, HostileProxy, Rotator, list[Daemon]]]:
    """A sandbox (its demo key already due) behind the proxy, a store with `prod` in it."""
    daemons: list[Daemon] = []
    with ExitStack() as stack:
        sandbox = stack.enter_context(
            Sandbox(deployment_step_seconds=0.05, clock=lambda: time.time() - KEY_AGE)
        )
        proxy = stack.enter_context(HostileProxy(sandbox.url))
        home = Rotator(tmp_path, proxy.url)
        assert home("init").code == 0
        assert home.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
        try:
            yield sandbox, proxy, home, daemons
        finally:
            for daemon in daemons:
                daemon.kill()


def daemon_config(*, validate_every: str = "1h", policy: str = "") -> str:
    # A minute per request (one attempt): a hostile peer could hold a request that
    # long, far beyond the 10 s a stop may take.
    return (
        f'[daemon]\nvalidate_every = "{validate_every}"\naudit_every = "1h"\n'
        'health_listen = "127.0.0.1:0"\n\n'
        f'[digitalocean]\nretries = 0\ntimeout = "60s"\n{policy}'
    )


@pytest.mark.parametrize(
    ("mode", "options"),
    [("drip", {"interval": 2.0}), ("drip_headers", {"interval": 2.0}), ("stall", {})],
)
def test_sigterm_during_a_validation_a_peer_holds_ends_the_daemon(world, mode, options):
    _, proxy, home, daemons = world
    home.config.write_text(daemon_config(validate_every="1s"))
    before = json.loads(home("connection", "show", "prod", "--json").stdout)
    proxy.add(mode, path="^/v2/account$", **options)

    daemon = Daemon(home)
    daemons.append(daemon)
    health = daemon.wait_for(r"health and metrics on (http://\S+)").group(1)
    until(in_flight(proxy, mode, "^/v2/account$"), f"a validation meets the {mode} peer")

    stop_and_check(daemon, health)
    after = json.loads(home("connection", "show", "prod", "--json").stdout)
    assert (after["token_hash"], after["version"]) == (before["token_hash"], before["version"])


@pytest.mark.parametrize("mode", ["stall", "drip_headers"])
def test_sigterm_while_vault_stalls_a_rotation_ends_the_daemon_and_the_rotation_resumes_later(
    world, bao: OpenBao, tmp_path: Path, mode: str
):
    sandbox, _, home, daemons = world
    vault = HostileProxy(bao.url).start()
    try:
        token_file = tmp_path / "vault-token"
        token_file.write_text(bao.root_token + "\n")
        token_file.chmod(0o600)
        vault_sink = (
            f'\n[[policies.sinks]]\ntype = "vault"\nurl = "{vault.url}"\nmount = "secret"\n'
            f'path = "media/spaces"\ntoken_file = "{token_file}"\ntimeout = "60s"\n'
        )
        app_id = sandbox.app_ids()[0]
        policy = media_policy(app_id, every="1h", grace="1h", more_sinks=vault_sink)
        home.config.write_text(daemon_config(policy=policy))
        original = next(k for k in sandbox.spaces_keys() if k["name"] == "demo-media")
        vault.add(mode, path="^/v1/", interval=2.0)

        daemon = Daemon(home)
        daemons.append(daemon)
        health = daemon.wait_for(r"health and metrics on (http://\S+)").group(1)
        until(in_flight(vault, mode, "^/v1/"), f"the rotation meets the {mode} Vault")

        stop_and_check(daemon, health)
        # Left in flight, the old key alive (its holders may still use it), Vault unwritten.
        in_flight_then = json.loads(home("status", "--json").stdout)["policies"][0]["in_flight"]
        assert in_flight_then is not None, daemon.log
        assert original["access_key"] in {k["access_key"] for k in sandbox.spaces_keys()}
        assert bao.read("secret", "media/spaces") is None

        vault.clear()  # Vault answers again: the next start finishes the rotation
        restarted = Daemon(home)
        daemons.append(restarted)
        restarted.wait_for(r"job rotate: 1 due; 1 resumed")
        restarted.process.send_signal(signal.SIGTERM)
        assert restarted.process.wait(timeout=EXIT_DEADLINE) == 0, restarted.log
    finally:
        vault.stop()
    policy = json.loads(home("status", "--json").stdout)["policies"][0]
    assert policy["in_flight"] is None
    assert policy["current_access_key"] == in_flight_then["new_access_key"]
    stored = bao.read("secret", "media/spaces")["data"]
    assert stored["access_key"] == in_flight_then["new_access_key"]
