"""Fixtures for the daemon tests: a sandbox whose demo key is old, a registered home, daemons."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from daemon_support import SCOPES, DaemonProcess, Home

from rotator.sandbox import Sandbox

# The sandbox runs this far behind, so its seeded demo key is already older than a
# policy's `every` of one hour: the daemon's first run rotates it, and only once.
KEY_AGE = 3 * 3600


@pytest.fixture
def make_home(tmp_path: Path) -> Iterator[Callable[..., Home]]:
    """Start a sandbox (deployments *step* seconds a step), init a store, register `prod`."""
    with ExitStack() as stack:

        def make(*, step: float = 0.05) -> Home:
            sandbox = stack.enter_context(
                Sandbox(deployment_step_seconds=step, clock=lambda: time.time() - KEY_AGE)
            )
            home = Home(tmp_path, sandbox)
            home.write_config()
            assert home("init").code == 0
            token = sandbox.add_token(SCOPES)
            added = home("connection", "add", "prod", "--token-stdin", stdin=token)
            assert added.code == 0, added.stderr
            home.token = token
            return home

        yield make


@pytest.fixture
def home(make_home: Callable[..., Home]) -> Home:
    return make_home()


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., DaemonProcess]]:
    """Start `rotator run` subprocesses; any still running is killed at the end."""
    started: list[DaemonProcess] = []

    def start(home: Home, *args: str, env: dict[str, str] | None = None) -> DaemonProcess:
        daemon = DaemonProcess(home, *args, env=env)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()
