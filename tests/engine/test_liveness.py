"""Honest health: a daemon whose loop is wedged fails /healthz; a broken config fails /readyz.

The daemon runs in this process (its loop in the main thread, as `rotator run`
has it) so a test can wedge it with a job that blocks; a helper thread plays
the prober.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest

from rotator.engine.daemon import Daemon
from rotator.engine.jobs.base import Job, Pass
from rotator.services.context import Context

DEADLINE = 20.0


class WedgeJob(Job):
    """Due once, at once; its one item blocks until released (at most DEADLINE)."""

    name = "wedge"

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.done = False

    def interval(self, run: Pass, item: str) -> timedelta:
        return timedelta(hours=1)

    def due_items(self, run: Pass) -> dict[str, datetime]:
        return {"item": run.now + (timedelta(hours=1) if self.done else timedelta(0))}

    def run_item(self, run: Pass, item: str) -> str:
        self.entered.set()
        self.release.wait(DEADLINE)
        self.done = True
        return "done"


def poll(url: str, want: int) -> httpx.Response:
    """GET *url* until it answers *want* (or the deadline passes)."""
    deadline = time.monotonic() + DEADLINE
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, timeout=2)
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code == want:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"{url} never answered {want}; last: {answer and answer.text!r}")


def run_with_prober(daemon: Daemon, caplog, probe: Callable[[str], None]) -> list[BaseException]:
    """Run *daemon* here until *probe* (given the health URL, on a thread) has finished."""
    errors: list[BaseException] = []

    def prober() -> None:
        try:
            deadline = time.monotonic() + DEADLINE
            url = None
            while url is None and time.monotonic() < deadline:
                for record in list(caplog.records):
                    found = re.search(r"health and metrics on (http://\S+)", record.getMessage())
                    if found:
                        url = found.group(1)
                time.sleep(0.05)
            assert url is not None, "the daemon never said where it listens"
            probe(url)
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)
        finally:
            daemon.lifecycle.request_stop()

    thread = threading.Thread(target=prober, daemon=True)
    with caplog.at_level(logging.INFO):
        thread.start()
        code = daemon.run()
    thread.join(DEADLINE)
    assert code == 0
    return errors


@pytest.fixture
def context(home) -> Context:
    home.write_config(health_listen="127.0.0.1:0")
    return Context(environ=home.env)


def test_a_wedged_loop_turns_healthz_503_and_a_freed_one_turns_it_back(context, caplog):
    daemon = Daemon(context, stale_after=0.5)
    wedge = WedgeJob()
    daemon.jobs = [wedge]

    def probe(url: str) -> None:
        assert wedge.entered.wait(DEADLINE)
        stuck = poll(f"{url}/healthz", 503)
        assert stuck.text.startswith("unhealthy: the main loop is ")
        assert stuck.text.endswith("s late (daemon.stale_after is 0.5s)\n")
        assert poll(f"{url}/readyz", 503).text.startswith("not ready: the main loop is ")
        wedge.release.set()
        assert poll(f"{url}/healthz", 200).text == "ok\n"
        assert poll(f"{url}/readyz", 200).text == "ready\n"

    errors = run_with_prober(daemon, caplog, probe)
    assert not errors, errors


def test_readyz_fails_while_the_config_on_disk_is_broken_or_the_store_is_gone(
    context, home, caplog
):
    daemon = Daemon(context)
    daemon.jobs = []
    good = home.config.read_text()

    def reload(text: str, logged: str) -> None:
        home.config.write_text(text)
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + DEADLINE
        while not any(logged in r.getMessage() for r in list(caplog.records)):
            assert time.monotonic() < deadline, f"never logged {logged!r}"
            time.sleep(0.05)

    def probe(url: str) -> None:
        assert poll(f"{url}/readyz", 200).text == "ready\n"
        reload(good.replace('validate_every = "1h"', 'validate_every = "soon"'), "reload failed")
        broken = poll(f"{url}/readyz", 503)
        assert broken.text.startswith("not ready: the config does not load (")
        assert "validate_every" in broken.text
        assert poll(f"{url}/healthz", 200).text == "ok\n"  # alive on the previous config
        reload(good, "config reloaded")
        assert poll(f"{url}/readyz", 200).text == "ready\n"
        store = home.state_dir / "rotator.db"
        store.rename(store.with_suffix(".moved"))
        try:
            gone = poll(f"{url}/readyz", 503)
            assert gone.text.startswith("not ready: the store cannot be opened: ")
        finally:
            store.with_suffix(".moved").rename(store)
        assert poll(f"{url}/readyz", 200).text == "ready\n"

    errors = run_with_prober(daemon, caplog, probe)
    assert not errors, errors
