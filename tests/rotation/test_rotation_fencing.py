"""A rotation under a lease: fenced writes; a lost lease stops it before its next side effect."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

import rotator.credentials.spaces_key as spaces_kind
from rotator.errors import LeaseLost
from rotator.rotation import PolicyRotation
from rotator.store import Fence, policy_item

LONG = timedelta(minutes=5)
SHORT = timedelta(milliseconds=300)


def live_keys(sandbox) -> dict[str, dict]:
    return {
        key["access_key"]: key
        for key in sandbox.spaces_keys()
        if key["name"] == "media-original" or key["name"].startswith("rotator-media-")
    }


def fenced(world, fence, notify=None) -> PolicyRotation:
    return PolicyRotation(
        world["store"],
        world["policy"],
        world["client"],
        world["sinks"],
        lock_dir=world["lock"].parent,
        notify=notify,
        fence=fence,
    )


def claim(world, holder: str, ttl: timedelta):
    fence = world["store"].leases.claim(policy_item("media"), holder, ttl).fence
    assert fence is not None
    return fence


def take_over(world) -> None:
    """Let the short lease run out (by the database's clock), then another replica claims it."""
    time.sleep(SHORT.total_seconds() + 0.3)
    claim(world, "successor", LONG)


def test_a_rotation_under_a_live_lease_runs_as_usual(world):
    result = fenced(world, claim(world, "me", LONG)).rotate()
    assert result.status == "succeeded", result.error
    assert all(sink.holds() == result.new_access_key for sink in world["sinks"])


def test_a_lease_lost_before_the_create_stops_with_no_key_and_no_alert(world):
    sandbox = world["sandbox"]
    before = set(live_keys(sandbox))
    fence = claim(world, "me", SHORT)
    take_over(world)
    events: list[object] = []
    with pytest.raises(LeaseLost, match="lease lost on policy:media"):
        fenced(world, fence, events.append).rotate()
    assert set(live_keys(sandbox)) == before
    assert world["records"].in_flight("media") is None  # not even begun
    assert events == []
    assert all(sink.pushes == 0 for sink in world["sinks"])


def test_a_lease_lost_during_a_push_stops_before_the_next_sink(world):
    fence = claim(world, "me", SHORT)
    first, second = world["sinks"]
    real_push = first.push

    def slow_push(keys, context):
        confirmation = real_push(keys, context)
        take_over(world)  # paused past the lease in the middle of the push
        return confirmation

    first.push = slow_push  # type: ignore[method-assign]
    events: list[object] = []
    with pytest.raises(LeaseLost):
        fenced(world, fence, events.append).rotate()
    assert second.pushes == 0  # stopped before its next side effect
    record = world["records"].in_flight("media")
    assert record is not None and record.state == "pushing"
    assert record.sinks["first"].status == "pending"  # the late confirmation was refused
    assert record.last_error is None  # no failure recorded over the successor's work
    assert events == []  # and none alerted
    history = [e.event for e in world["store"].history.page(limit=100)]
    assert "rotation_failed" not in history
    # The successor, with its own fence, carries the same rotation on.
    successor = world["store"].leases.get(policy_item("media"))
    assert successor is not None and successor.holder == "successor"
    first.push = real_push  # type: ignore[method-assign]
    result = fenced(world, Fence(successor.item, successor.token)).rotate()
    assert result.status == "resumed", result.error
    assert result.rotation_id == record.id


def test_a_lease_lost_between_the_create_and_its_record_deletes_that_key(world, monkeypatch):
    sandbox = world["sandbox"]
    before = set(live_keys(sandbox))
    fence = claim(world, "me", SHORT)
    real_create = spaces_kind.create_key
    made: list[str] = []

    def create_then_pause(client, name, grants):
        key, secret = real_create(client, name, grants)
        made.append(key.access_key)
        take_over(world)
        return key, secret

    monkeypatch.setattr(spaces_kind, "create_key", create_then_pause)
    with pytest.raises(LeaseLost):
        fenced(world, fence).rotate()
    assert len(made) == 1
    assert set(live_keys(sandbox)) == before  # the unrecordable key is gone
    record = world["records"].in_flight("media")
    assert record is not None and record.state == "planned" and record.new_access_key is None
