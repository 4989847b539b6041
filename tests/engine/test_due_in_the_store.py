"""Validation and audit due times kept in the store: an idle look costs the same for any fleet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rotator.crypto import Keyring, MasterKey, token_hash
from rotator.engine.jobs.audit import AuditJob
from rotator.engine.jobs.base import Pass, Runtime
from rotator.engine.jobs.due import jitter, periodic_due
from rotator.engine.jobs.validate import ValidateJob
from rotator.secret import Secret
from rotator.services.context import Context
from rotator.store import Store, ValidationRecord

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
NAMES = [f"c{number:02d}" for number in range(30)]


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(MasterKey.from_text(MasterKey.generate_text(), "test"))


@pytest.fixture
def store(tmp_path: Path, keyring: Keyring) -> Store:
    with Store.create(tmp_path / "state", keyring, now=lambda: START) as created:
        for number, name in enumerate(NAMES):
            token = Secret(f"dop_v1_{number:064x}")
            created.connections.add(name, "", token, "personal", None)
            checked = START - timedelta(minutes=number)
            created.connections.record_validation(name, ValidationRecord("valid", "ok", checked))
            report = {"verdict": "ok", "required": ["account:read"]}
            created.scopes.save(name, token_hash(token), checked, report, outcome="ok")
    return Store.open(tmp_path / "state", keyring, writer=True, now=lambda: START)


def _runtime(tmp_path: Path, config: str) -> Runtime:
    path = tmp_path / f"rotator-{abs(hash(config))}.toml"
    path.write_text(config)
    return Runtime(
        Context(
            environ={"ROTATOR_STATE_DIR": str(tmp_path / "state")},
            config_path=path,
            sleep=lambda seconds: None,
        )
    )


DAILY = '[daemon]\nvalidate_every = "1h"\naudit_every = "24h"\n'


def test_an_idle_look_works_nothing_out_again_and_reads_only_the_soonest(tmp_path, store):
    runtime = _runtime(tmp_path, DAILY)
    job = ValidateJob()
    with store:
        first = job.refresh(Pass(store, runtime, START))
        later = Pass(store, runtime, START + timedelta(minutes=1))
        again = job.refresh(later)
        due = job.due_items(later)
        expected = min(
            periodic_due(f"validate:{name}", START - timedelta(minutes=n), HOUR, START)
            for n, name in enumerate(NAMES)
        )
        next_due = job.next_due(later)
    assert first == len(NAMES)  # worked out once, at the first look
    assert again == 0  # and never again while nothing changed
    assert list(due.values()) == [expected]  # one connection read: the soonest
    assert next_due == expected


def test_a_recorded_validation_moves_only_that_connections_due_time(tmp_path, store):
    runtime = _runtime(tmp_path, DAILY)
    job = ValidateJob()
    with store:
        job.refresh(Pass(store, runtime, START))
        later = START + 2 * HOUR
        before = job.due_items(Pass(store, runtime, later))
        store.connections.record_validation("c05", ValidationRecord("valid", "ok", later))
        recomputed = job.refresh(Pass(store, runtime, later))
        after = job.due_items(Pass(store, runtime, later))
    assert {name for name, when in before.items() if when <= later} == set(NAMES)
    assert recomputed == 1
    assert {name for name, when in after.items() if when <= later} == set(NAMES) - {"c05"}
    assert after["c05"] == periodic_due("validate:c05", later, HOUR, later)  # the soonest next


def test_a_failing_connection_is_retried_at_its_backoff_not_its_kept_time(tmp_path, store):
    runtime = _runtime(tmp_path, DAILY)
    job = ValidateJob()
    with store:
        run = Pass(store, runtime, START)
        job.refresh(run)
        retry = job.backoff.failed("c29", START, HOUR)
        due = job.due_items(run)
        next_due = job.next_due(run)
    assert due["c29"] == retry == START + timedelta(seconds=30)
    assert next_due == retry
    assert len(due) == 2  # the failing one and the soonest other


def test_a_new_interval_in_the_config_works_every_due_time_out_again(tmp_path, store):
    job = ValidateJob()
    with store:
        job.refresh(Pass(store, _runtime(tmp_path, DAILY), START))
        runtime = _runtime(tmp_path, '[daemon]\nvalidate_every = "2h"\n')
        recomputed = job.refresh(Pass(store, runtime, START))
        due = job.due_items(Pass(store, runtime, START))
    assert recomputed == len(NAMES)
    assert list(due.values()) == [
        min(
            START - timedelta(minutes=n) + 2 * HOUR - jitter(f"validate:{name}", 2 * HOUR)
            for n, name in enumerate(NAMES)
        )
    ]


def test_a_policy_needing_more_scopes_makes_its_connections_audit_due_at_once(tmp_path, store):
    job = AuditJob()
    policy = """
[[policies]]
name = "media"
connection = "c07"
spaces_key = "media"
every = "30d"

[[policies.sinks]]
type = "file"
path = "/run/media.env"
"""
    with store:
        quiet = job.due_items(Pass(store, _runtime(tmp_path, DAILY), START))
        runtime = _runtime(tmp_path, DAILY + policy)
        due = job.due_items(Pass(store, runtime, START))
    assert all(when > START for when in quiet.values())  # audited, for what the config asked
    assert {name for name, when in due.items() if when <= START} == {"c07"}
