"""/metrics: prometheus_client's own registry, job counters, and what the store knows at scrape."""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from rotator.alerts.base import Alert
from rotator.alerts.outbox import Outbox
from rotator.crypto import Keyring, MasterKey
from rotator.digitalocean.spaces import Grant
from rotator.digitalocean.stats import ClientStats, status_class
from rotator.engine.jobs.base import Summary
from rotator.engine.metrics import DaemonMetrics
from rotator.secret import Secret
from rotator.store import Store, ValidationRecord
from rotator.store.readings import open_read_only, read_store

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROD_TOKEN = Secret("dop_v1_" + "a" * 64)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def test_job_outcomes_api_calls_and_last_success_are_exposed():
    stats = ClientStats()
    metrics = DaemonMetrics(stats, started_at=1000.0)
    stats.add(calls=7, rate_limited=2, retries=1)
    metrics.job_ran(Summary("rotate", due=2, outcomes=Counter(succeeded=1, failed=1), failed=1), 50)
    metrics.job_ran(Summary("validate", due=3, outcomes=Counter(valid=2, invalid=1)), 60)
    metrics.job_ran(Summary("outbox", due=1, outcomes=Counter(sent=3)), 70)
    found = samples(metrics.render())
    assert found[("rotator_rotations_total", (("outcome", "succeeded"),))] == 1
    assert found[("rotator_rotations_total", (("outcome", "failed"),))] == 1
    assert found[("rotator_validations_total", (("status", "invalid"),))] == 1
    assert found[("rotator_alerts_total", (("outcome", "sent"),))] == 3
    assert found[("rotator_api_calls_total", ())] == 7
    assert found[("rotator_api_rate_limited_total", ())] == 2
    assert found[("rotator_job_last_success_timestamp_seconds", (("job", "validate"),))] == 60
    assert ("rotator_job_last_success_timestamp_seconds", (("job", "rotate"),)) not in found
    assert found[("rotator_job_failed_items_total", (("job", "rotate"),))] == 1
    assert found[("rotator_start_time_seconds", ())] == 1000


def test_a_run_with_nothing_due_leaves_the_last_success_where_it_was():
    metrics = DaemonMetrics(ClientStats(), started_at=0)
    metrics.job_ran(Summary("rotate", due=1, outcomes=Counter(succeeded=1)), 100)
    metrics.job_ran(Summary("rotate", due=0), 200)
    metrics.job_ran(Summary("rotate", due=1, outcomes=Counter(not_due=1)), 300)
    found = samples(metrics.render())
    assert found[("rotator_job_last_success_timestamp_seconds", (("job", "rotate"),))] == 100
    assert found[("rotator_job_last_run_timestamp_seconds", (("job", "rotate"),))] == 300
    assert found[("rotator_job_runs_total", (("job", "rotate"), ("result", "ok")))] == 1
    assert found[("rotator_job_runs_total", (("job", "rotate"), ("result", "idle")))] == 2
    assert found[("rotator_rotations_total", (("outcome", "succeeded"),))] == 1
    assert ("rotator_rotations_total", (("outcome", "not_due"),)) not in found


def test_label_values_are_escaped():
    metrics = DaemonMetrics(ClientStats(), started_at=0)
    metrics.job_ran(Summary('we"ird\\name\nx', due=1, outcomes=Counter(done=1)), 5)
    found = samples(metrics.render())
    key = ("rotator_job_runs_total", (("job", 'we"ird\\name\nx'), ("result", "ok")))
    assert found[key] == 1


def test_the_registry_is_our_own_and_carries_the_process_metrics():
    text = DaemonMetrics(ClientStats(), started_at=0).render()
    found = types(text)
    assert found["process_cpu_seconds"] == "counter"
    assert found["process_resident_memory_bytes"] == "gauge"
    assert found["python_info"] == "gauge"
    assert found["rotator_build_info"] == "gauge"
    global_names = {family.name for family in REGISTRY.collect()}
    assert not any(name.startswith("rotator_") for name in global_names)


def test_the_status_class_of_an_answer():
    assert [status_class(s) for s in (200, 204, 301, 401, 403, 429, 500, 503, None)] == [
        "2xx",
        "2xx",
        "3xx",
        "4xx",
        "4xx",
        "429",
        "5xx",
        "5xx",
        "transport",
    ]


def test_answers_are_counted_per_token_and_a_snapshot_keeps_its_own_copy():
    stats = ClientStats()
    stats.answered("aaaaaaaaaaaa", 200)
    snapshot = stats.snapshot()
    stats.answered("aaaaaaaaaaaa", 200)
    stats.answered("aaaaaaaaaaaa", None)
    assert snapshot.answers == {("aaaaaaaaaaaa", "2xx"): 1}
    assert stats.answers == {("aaaaaaaaaaaa", "2xx"): 2, ("aaaaaaaaaaaa", "transport"): 1}
    assert "aaaaaaaaaaaa" not in repr(stats)


# -- what the store knows, read at scrape time ---------------------------------------------


@dataclass
class Policy:
    """What the scrape reads from a configured policy."""

    name: str
    every: timedelta = timedelta(days=30)
    grace: timedelta = timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock):
    keyring = Keyring(MasterKey.from_text(MasterKey.generate_text(), "test"))
    with Store.create(tmp_path / "state", keyring, now=clock) as opened:
        yield opened


def scrape_store(store: Store, policies: list[Policy], stats: ClientStats | None = None) -> str:
    path = store.path

    def read():
        with closing(open_read_only(Path(path))) as db:
            return read_store(db)

    metrics = DaemonMetrics(
        stats or ClientStats(), started_at=0, read_store=read, policies=lambda: policies
    )
    return metrics.render()


def rotate(store: Store, clock: Clock, policy: str, *, finish: bool) -> None:
    records = store.rotations
    records.adopt(policy, f"OLD{policy.upper()}")
    record = records.begin(
        policy, f"r-{policy}", f"OLD{policy.upper()}", f"{policy}-r", (Grant("b", "read"),)
    )
    if finish:
        records.record_created(record, f"NEW{policy.upper()}", Secret("s" * 40))
        clock.now += timedelta(minutes=2)
        created = records.in_flight(policy)
        assert created is not None
        records.promote(created, timedelta(hours=1))


def test_policy_rotation_times_and_rotations_in_flight_come_from_the_store(store, clock):
    rotate(store, clock, "media", finish=True)  # promoted at START + 2 min
    clock.now = START + timedelta(hours=3)
    rotate(store, clock, "logs", finish=False)  # adopted and started at START + 3 h
    text = scrape_store(
        store, [Policy("media"), Policy("logs", every=timedelta(days=7)), Policy("idle")]
    )
    found = samples(text)
    promoted = (START + timedelta(minutes=2)).timestamp()
    adopted = (START + timedelta(hours=3)).timestamp()

    def value(name: str, policy: str) -> float | None:
        return found.get((name, (("policy", policy),)))

    assert value("rotator_policy_last_rotation_timestamp_seconds", "media") == promoted
    assert value("rotator_policy_last_rotation_timestamp_seconds", "logs") is None  # adopted
    assert value("rotator_policy_last_rotation_timestamp_seconds", "idle") is None
    assert value("rotator_policy_next_due_timestamp_seconds", "media") == promoted + 30 * 86400
    assert value("rotator_policy_next_due_timestamp_seconds", "logs") == adopted + 7 * 86400
    assert value("rotator_policy_next_due_timestamp_seconds", "idle") is None
    assert value("rotator_policy_rotation_in_flight", "media") == 0
    assert value("rotator_policy_rotation_in_flight", "logs") == 1
    assert value("rotator_policy_rotation_in_flight", "idle") == 0
    assert value("rotator_policy_rotation_started_timestamp_seconds", "logs") == adopted
    assert value("rotator_policy_rotation_started_timestamp_seconds", "media") is None
    assert value("rotator_policy_interval_seconds", "logs") == 7 * 86400
    assert value("rotator_policy_grace_seconds", "idle") == 3600
    assert found[("rotator_store_up", ())] == 1
    assert types(text)["rotator_policy_rotation_in_flight"] == "gauge"


def test_a_rotation_left_in_flight_by_a_policy_gone_from_the_config_still_shows(store, clock):
    rotate(store, clock, "gone", finish=False)
    found = samples(scrape_store(store, [Policy("media")]))
    assert found[("rotator_policy_rotation_in_flight", (("policy", "gone"),))] == 1
    assert ("rotator_policy_interval_seconds", (("policy", "gone"),)) not in found
    assert found[("rotator_policy_rotation_in_flight", (("policy", "media"),))] == 0


def test_connection_validity_expiry_and_scope_verdict_come_from_the_store(store, clock):
    expires = START + timedelta(days=20)
    store.connections.add("prod", "", PROD_TOKEN, "personal", None)
    store.connections.record_validation(
        "prod", ValidationRecord("valid", "ok", START, token_expires_at=expires)
    )
    store.connections.add("staging", "", Secret("dop_v1_" + "b" * 64), "personal", None)
    store.connections.record_validation("staging", ValidationRecord("invalid", "401", START))
    store.connections.add("fresh", "", Secret("dop_v1_" + "c" * 64), "personal", None)
    store.scopes.save(
        "prod", PROD_TOKEN.sha256, START, {"verdict": "too_broad"}, outcome="too_broad"
    )
    store.scopes.save(
        "staging", Secret("dop_v1_" + "b" * 64).sha256, START, {"verdict": "ok"}, outcome="ok"
    )
    store.connections.update("staging", token=Secret("dop_v1_" + "d" * 64))  # report is stale

    text = scrape_store(store, [])
    found = samples(text)

    def verdicts(name: str) -> dict[str, float]:
        return {
            dict(labels)["verdict"]: v
            for (metric, labels), v in found.items()
            if metric == "rotator_connection_scope_verdict" and dict(labels)["connection"] == name
        }

    valid = "rotator_connection_token_valid"
    assert found[(valid, (("connection", "prod"),))] == 1
    assert (valid, (("connection", "fresh"),)) not in found  # unknown: absent
    expiry = "rotator_connection_token_expiry_timestamp_seconds"
    assert found[(expiry, (("connection", "prod"),))] == expires.timestamp()
    assert (expiry, (("connection", "staging"),)) not in found
    assert verdicts("prod") == {
        "ok": 0,
        "missing": 0,
        "too_broad": 1,
        "invalid": 0,
        "unknown": 0,
    }
    assert verdicts("staging")["unknown"] == 1  # its report was for the old token
    assert verdicts("staging")["ok"] == 0
    assert verdicts("fresh")["unknown"] == 1


def test_an_invalid_token_is_0_not_absent(store):
    store.connections.add("staging", "", Secret("dop_v1_" + "b" * 64), "personal", None)
    store.connections.record_validation("staging", ValidationRecord("invalid", "401", START))
    found = samples(scrape_store(store, []))
    assert found[("rotator_connection_token_valid", (("connection", "staging"),))] == 0


def test_the_outbox_depth_and_its_oldest_alert(store, clock):
    alert = Alert("token_invalid", "prod", "critical", "API token is invalid", "t", START)
    Outbox(store).enqueue_for(alert, ["ops", "slack"])
    clock.now = START + timedelta(minutes=5)
    Outbox(store).enqueue_for(alert, ["ops"])
    found = samples(scrape_store(store, []))
    assert found[("rotator_outbox_pending", ())] == 3
    assert found[("rotator_outbox_oldest_pending_timestamp_seconds", ())] == START.timestamp()


def test_api_requests_are_counted_per_connection_and_status_class(store):
    store.connections.add("prod", "", PROD_TOKEN, "personal", None)
    stats = ClientStats()
    for status in (200, 200, 204, 403, 429, 503, None):
        stats.answered(PROD_TOKEN.fingerprint, status)
    stats.answered("0123456789ab", 200)  # a token the store does not hold
    text = scrape_store(store, [], stats)
    found = samples(text)
    assert types(text)["rotator_api_requests"] == "counter"

    def count(connection: str, status: str) -> float | None:
        labels = (("connection", connection), ("status_class", status))
        return found.get(("rotator_api_requests_total", labels))

    assert count("prod", "2xx") == 3
    assert count("prod", "4xx") == 1
    assert count("prod", "429") == 1
    assert count("prod", "5xx") == 1
    assert count("prod", "transport") == 1
    assert count("unregistered", "2xx") == 1


def test_a_fingerprint_keeps_its_connection_after_the_token_changes(store):
    store.connections.add("prod", "", PROD_TOKEN, "personal", None)
    stats = ClientStats()
    stats.answered(PROD_TOKEN.fingerprint, 200)
    path = store.path

    def read():
        with closing(open_read_only(path)) as db:
            return read_store(db)

    metrics = DaemonMetrics(stats, started_at=0, read_store=read)
    labels = (("connection", "prod"), ("status_class", "2xx"))
    assert samples(metrics.render())[("rotator_api_requests_total", labels)] == 1
    store.connections.update("prod", token=Secret("dop_v1_" + "e" * 64))
    assert samples(metrics.render())[("rotator_api_requests_total", labels)] == 1


def test_an_unreadable_store_is_reported_not_raised(tmp_path):
    missing = tmp_path / "nowhere" / "rotator.db"

    def read():
        with closing(open_read_only(missing)) as db:
            return read_store(db)

    stats = ClientStats()
    stats.answered(PROD_TOKEN.fingerprint, 200)
    metrics = DaemonMetrics(stats, started_at=0, read_store=read, policies=lambda: [Policy("m")])
    found = samples(metrics.render())
    assert found[("rotator_store_up", ())] == 0
    assert not any(name.startswith("rotator_policy_") for name, _ in found)
    assert not any(name == "rotator_api_requests_total" for name, _ in found)  # not yet named
    assert found[("rotator_api_calls_total", ())] == 0


def test_a_slow_query_is_cut_off_at_the_deadline(store):
    path = store.path
    with (
        closing(open_read_only(path, deadline_seconds=0.0)) as db,
        pytest.raises(sqlite3.OperationalError, match="interrupted"),
    ):
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
        ).fetchone()
