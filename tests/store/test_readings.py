"""What /metrics reads at scrape time, on both backends: the same readings, leases included."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rotator.digitalocean.spaces import Grant
from rotator.digitalocean.stats import ClientStats
from rotator.engine.metrics import DaemonMetrics
from rotator.errors import StoreError
from rotator.secret import Secret
from rotator.store import ValidationRecord
from rotator.store.readings import StoreReadings, open_read_only, read_postgres, read_store

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TOKEN = Secret("dop_v1_" + "a" * 64)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def read(backend) -> StoreReadings:
    if backend.name == "postgresql":
        return read_postgres(Secret(backend.url))
    with closing(open_read_only(backend.path)) as db:
        return read_store(db)


@pytest.fixture
def filled(backend, keyring):
    clock = Clock()
    with backend.create(keyring, now=clock) as store:
        store.connections.add("prod", "", TOKEN, "personal", None)
        store.connections.record_validation(
            "prod",
            ValidationRecord("valid", "ok", START, token_expires_at=START + timedelta(days=9)),
        )
        store.scopes.save("prod", TOKEN.sha256, START, {"verdict": "too_broad"}, outcome="x")
        store.rotations.adopt("media", "OLD", since=START - timedelta(days=40))
        store.rotations.begin("media", "r1", "OLD", "rotator-media-r1", (Grant("m", "read"),))
        store.leases.beat("replica-a", host="a", pid=1, version="1")
        store.leases.beat("replica-b", host="b", pid=2, version="1")
        for item in ("policy:media", "validate:prod"):
            store.leases.claim(item, "replica-a", timedelta(minutes=5))
        gone = store.leases.claim("outbox", "replica-b", timedelta(minutes=5)).fence
        assert gone is not None
        store.leases.release(gone)  # released: no longer held
        store.leases.lost("replica-b")
    return backend


def test_both_backends_read_the_same_things(filled):
    readings = read(filled)
    media = readings.policies["media"]
    assert media.current_since == (START - timedelta(days=40)).timestamp()
    assert (media.rotated, media.in_flight) == (False, True)
    assert media.in_flight_since == START.timestamp()
    [prod] = readings.connections
    assert (prod.name, prod.status, prod.verdict) == ("prod", "valid", "too_broad")
    assert prod.token_expires_at == (START + timedelta(days=9)).timestamp()
    assert prod.fingerprint == TOKEN.sha256[:12]
    assert (readings.outbox_pending, readings.outbox_oldest_pending) == (0, None)
    assert readings.leases_held == {"replica-a": 2}
    assert readings.leases_lost == {"replica-a": 0, "replica-b": 1}


def test_metrics_show_leases_held_and_lost(filled):
    metrics = DaemonMetrics(
        ClientStats(), started_at=0, read_store=lambda: read(filled), policies=lambda: ()
    )
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.render())
        for sample in family.samples
    }
    assert found[("rotator_leases_held", (("replica", "replica-a"),))] == 2
    assert ("rotator_leases_held", (("replica", "replica-b"),)) not in found
    assert found[("rotator_leases_lost_total", (("replica", "replica-b"),))] == 1
    assert found[("rotator_store_up", ())] == 1


def test_an_unreachable_postgresql_is_one_line_without_the_password():
    with pytest.raises(StoreError) as caught:
        read_postgres(Secret("postgresql://u:hunter2-canary@127.0.0.1:1/db"), deadline_seconds=1)
    assert "hunter2-canary" not in str(caught.value)
    assert "\n" not in str(caught.value)
