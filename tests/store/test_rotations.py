"""Rotation records: abandoning one ends its flight and is recorded in the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rotator.digitalocean.spaces import Grant
from rotator.errors import StoreLocked
from rotator.secret import Secret

GRANTS = (Grant("media", "readwrite"),)


def _begin(store, rotation_id="r1"):
    return store.rotations.begin("media", rotation_id, "OLDKEY", f"media-{rotation_id}", GRANTS)


def test_an_abandoned_rotation_is_no_longer_in_flight(store):
    record = _begin(store)
    store.rotations.record_created(record, "NEWKEY", Secret("s" * 40))
    assert store.rotations.in_flight("media") is not None
    assert store.rotations.abandon(record, "the app was deleted", new_key_deleted=True)
    assert store.rotations.in_flight("media") is None
    abandoned = store.rotations.get("r1")
    assert (abandoned.state, abandoned.in_flight) == ("abandoned", False)
    assert abandoned.last_error == "the app was deleted"
    assert abandoned.finished_at is not None


def test_abandoning_is_recorded_with_its_reason(store):
    record = _begin(store)
    store.rotations.abandon(record, "operator gave up", new_key_deleted=False)
    [entry] = [e for e in store.history.page() if e.event == "rotation_abandoned"]
    assert entry.subject == "media"
    assert entry.outcome == "abandoned"
    assert entry.detail["reason"] == "operator gave up"
    assert entry.detail["rotation_id"] == "r1"
    assert entry.detail["old_access_key"] == "OLDKEY"
    assert entry.detail["new_key_deleted"] is False


def test_after_abandoning_a_new_rotation_can_start(store):
    record = _begin(store, "r1")
    with pytest.raises(StoreLocked, match="already has a rotation in flight"):
        _begin(store, "r2")
    store.rotations.abandon(record, "stuck")
    assert _begin(store, "r2").state == "planned"


def test_a_finished_rotation_cannot_be_abandoned(store):
    record = _begin(store)
    store.rotations.record_created(record, "NEWKEY", Secret("s" * 40))
    store.rotations.promote(store.rotations.get("r1"), timedelta(hours=1))
    assert not store.rotations.abandon(record, "too late")
    assert store.rotations.get("r1").state == "succeeded"
    assert not [e for e in store.history.page() if e.event == "rotation_abandoned"]


def test_the_policy_keys_are_left_as_they_were_when_abandoning(store):
    store.rotations.adopt("media", "OLDKEY")
    before = store.rotations.policy_keys("media")
    store.rotations.abandon(_begin(store), "stuck")
    assert store.rotations.policy_keys("media") == before


def test_every_policys_keys_and_rotations_in_flight_are_read_in_one_query_each(store):
    store.rotations.adopt("media", "OLDKEY")
    store.rotations.adopt("backups", "BACKUPKEY")
    _begin(store)
    keys = store.rotations.every_policy_keys()
    assert set(keys) == {"media", "backups"}
    assert keys["media"] == store.rotations.policy_keys("media")
    assert keys["backups"].current_access_key == "BACKUPKEY"
    assert store.rotations.policies_in_flight() == {"media"}


def test_issued_finds_the_latest_rotation_that_made_a_credential_and_kept_its_secret(store):
    first = _begin(store, "r1")
    store.rotations.record_created(first, "KEY-A", Secret("a" * 40))
    store.rotations.promote(store.rotations.get("r1"), timedelta(seconds=0))
    second = store.rotations.begin("media", "r2", "KEY-A", "media-r2", GRANTS)
    store.rotations.record_created(second, "KEY-B", Secret("b" * 40))
    made_a = store.rotations.issued("media", "KEY-A")
    assert made_a is not None and made_a.id == "r1"
    assert store.rotations.open_secret(made_a).reveal() == "a" * 40
    made_b = store.rotations.issued("media", "KEY-B")
    assert made_b is not None and made_b.id == "r2"
    assert store.rotations.issued("media", "OLDKEY") is None  # adopted, never made here
    assert store.rotations.issued("other", "KEY-A") is None  # another policy's
