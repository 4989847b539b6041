"""Which condition each finding opens or closes, delivered to a real receiver."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from rotator.alerting import Alerting
from rotator.alerts import Dispatcher
from rotator.alerts.webhook import WebhookChannel
from rotator.audit.report import ScopeReport
from rotator.crypto import Keyring, MasterKey
from rotator.events import (
    KeyRevoked,
    RevokeFailed,
    RotationAbandoned,
    RotationFailed,
    RotationSucceeded,
    ScopesAudited,
    SinkFailed,
    TokenChecked,
)
from rotator.sandbox.receiver import Receiver
from rotator.secret import Secret
from rotator.store import Store, ValidationRecord
from tests.support.clock import FakeClock

TOKEN = Secret("dop_v1_" + "ab" * 32)


@pytest.fixture
def world(tmp_path):
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    receiver = Receiver().start()
    keyring = Keyring(MasterKey.from_text(MasterKey.generate_text(), "test"))
    store = Store.create(tmp_path / "state", keyring, now=clock)
    store.connections.add("prod", "", TOKEN, "personal", None)
    http = httpx.Client()
    channel = WebhookChannel("ops", receiver.url + "/hook", Secret("signing-secret"))
    dispatcher = Dispatcher(store, [channel], http, now=clock, reminder=timedelta(hours=24))
    alerting = Alerting(
        dispatcher, now=clock, max_token_age=timedelta(days=90), expiry_warning=timedelta(days=7)
    )
    yield store, clock, receiver, alerting
    http.close()
    store.close()
    receiver.stop()


def events(receiver) -> list[tuple[str, bool]]:
    return [(r.json()["event"], r.json()["resolved"]) for r in receiver.requests]


def validated(store, clock, **fields) -> object:
    record = ValidationRecord(
        status=fields.pop("status", "valid"), reason="checked", checked_at=clock(), **fields
    )
    return store.connections.record_validation("prod", record)


def test_a_locked_account_alerts_and_resolves_when_unlocked(world):
    store, clock, receiver, alerting = world
    alerting.handle(TokenChecked(validated(store, clock, account_status="locked")))
    alerting.flush()
    alerting.handle(TokenChecked(validated(store, clock, account_status="active")))
    alerting.flush()
    assert events(receiver) == [("account_locked", False), ("account_locked", True)]


def test_a_token_expiring_within_the_warning_alerts_once(world):
    store, clock, receiver, alerting = world
    soon = clock() + timedelta(days=2)
    for _ in range(3):
        alerting.handle(TokenChecked(validated(store, clock, token_expires_at=soon)))
        alerting.flush()
    assert events(receiver) == [("token_expiring", False)]
    alerting.handle(TokenChecked(validated(store, clock, token_expires_at=None)))
    alerting.flush()
    assert events(receiver)[-1] == ("token_expiring", True)


def test_a_token_older_than_the_maximum_age_alerts_with_its_age(world):
    store, clock, receiver, alerting = world
    alerting.handle(TokenChecked(validated(store, clock)))
    alerting.flush()
    assert events(receiver) == []
    clock.moment += timedelta(days=91)
    alerting.handle(TokenChecked(validated(store, clock)))
    alerting.flush()
    assert events(receiver) == [("token_old", False)]
    assert receiver.requests[0].json()["facts"]["age_days"] == "91"


def test_an_unknown_validation_neither_raises_nor_clears_an_invalid_token(world):
    store, clock, receiver, alerting = world
    alerting.handle(TokenChecked(validated(store, clock, status="invalid")))
    alerting.handle(TokenChecked(validated(store, clock, status="unknown")))
    alerting.flush()
    assert events(receiver) == [("token_invalid", False)]


def report(**overrides) -> ScopeReport:
    base = ScopeReport(
        name="prod",
        token_hash=TOKEN.sha256,
        audited_at=datetime(2026, 11, 23, tzinfo=UTC),
        source="token_info",
        verdict="ok",
        reason="",
        required=("account:read",),
        granted=("account:read",),
        missing=(),
        excess=(),
        unknown=(),
        not_probed=(),
        full_access=False,
        token_scopes=("account:read",),
        blast_radius=None,
        defect=None,
        notes=(),
        warnings=(),
        probe_calls=0,
        api_calls=1,
        expires_at=None,
        token_created_at=None,
    )
    return dataclasses.replace(base, **overrides)


def test_missing_scopes_alert_by_name_and_resolve_once_granted(world):
    _, _, receiver, alerting = world
    alerting.handle(ScopesAudited(report(verdict="missing", missing=("app:update",))))
    alerting.flush()
    alerting.handle(ScopesAudited(report()))
    alerting.flush()
    assert events(receiver) == [("token_missing_scopes", False), ("token_missing_scopes", True)]
    assert receiver.requests[0].json()["facts"]["missing_scopes"] == "app:update"


def test_an_inconclusive_audit_changes_no_condition(world):
    _, _, receiver, alerting = world
    alerting.handle(ScopesAudited(report(verdict="too_broad", excess=("droplet:delete",))))
    alerting.handle(ScopesAudited(report(verdict="unknown", unknown=("droplet:delete",))))
    alerting.flush()
    assert events(receiver) == [("token_too_broad", False)]


def test_a_failed_revoke_alerts_and_the_later_revoke_resolves_it_with_one_notice(world):
    _, _, receiver, alerting = world
    alerting.handle(RevokeFailed("media", "DO00OLD", "DigitalOcean answered 500"))
    alerting.handle(KeyRevoked("media", "DO00OLD"))
    alerting.flush()
    assert events(receiver) == [
        ("revoke_failed", False),
        ("revoke_failed", True),
        ("key_revoked", False),
    ]
    assert receiver.requests[-1].json()["facts"] == {"policy": "media", "access_key": "DO00OLD"}


def test_a_credential_left_to_expire_is_not_called_deleted(world):
    _, _, receiver, alerting = world
    alerting.handle(KeyRevoked("registry", "docr-initial", left_to_expire=True))
    alerting.handle(KeyRevoked("media", "DO00OLD"))
    alerting.flush()
    left, deleted = (request.json() for request in receiver.requests)
    assert "left to expire" in left["title"] and "deleted" not in left["title"]
    assert "its own expiry" in left["text"]
    assert "deleted" in deleted["title"]


def test_an_abandoned_rotation_resolves_its_failures_and_says_what_happened_to_the_key(world):
    _, _, receiver, alerting = world
    alerting.handle(SinkFailed("media", "app:web", "DO00NEW", "app not found"))
    alerting.handle(RotationFailed("media", "DO00OLD", "DO00NEW", "sink app:web: app not found"))
    alerting.handle(RotationAbandoned("media", "r1", "DO00OLD", "DO00NEW", True, "app deleted"))
    alerting.flush()
    assert events(receiver) == [
        ("sink_failed", False),
        ("rotation_failed", False),
        ("rotation_failed", True),
        ("sink_failed", True),
        ("rotation_abandoned", False),
    ]
    notice = receiver.requests[-1].json()
    assert notice["facts"]["new_key_deleted"] == "true"
    assert notice["facts"]["reason"] == "app deleted"
    assert "DO00OLD stays the current key" in notice["text"]


def test_a_succeeded_rotation_is_one_notice_that_resolves_the_failures_before_it(world):
    _, _, receiver, alerting = world
    alerting.handle(RotationFailed("media", "DO00OLD", None, "DigitalOcean answered 500"))
    alerting.handle(RotationSucceeded("media", "DO00OLD", "DO00NEW", ("app:web", "vault")))
    alerting.flush()
    assert events(receiver) == [
        ("rotation_failed", False),
        ("rotation_failed", True),
        ("rotation_succeeded", False),
    ]
    assert receiver.requests[-1].json()["facts"]["sinks"] == "app:web, vault"
