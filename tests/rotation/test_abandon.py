"""Giving up a rotation in flight: only while no sink may hold its new key."""

from __future__ import annotations

import pytest

from rotator.errors import RotatorError, UsageError
from rotator.events import RotationAbandoned
from rotator.rotation.abandon import abandon_rotation


def alive(world) -> set[str]:
    return {key["access_key"] for key in world["sandbox"].spaces_keys()}


def abandon(world, events=None):
    return abandon_rotation(
        world["store"],
        world["policy"],
        world["client"],
        lock_dir=world["lock"].parent,
        reason="its app was deleted",
        notify=events.append if events is not None else (lambda event: None),
    )


def test_a_rotation_no_sink_took_is_given_up_its_new_key_deleted_the_old_kept(world):
    original = world["original"]["access_key"]
    for sink in world["sinks"]:
        sink.fail_with = "app not found"
    failed = world["rotation"]().rotate()
    assert failed.status == "failed"
    assert failed.new_access_key in alive(world)
    events: list[object] = []
    done = abandon(world, events)
    assert done.deleted_keys == (failed.new_access_key,)
    assert failed.new_access_key not in alive(world)
    assert original in alive(world)
    records = world["records"]
    assert records.in_flight("media") is None
    assert records.get(failed.rotation_id).state == "abandoned"
    assert records.policy_keys("media").current_access_key == original
    entry = next(e for e in list(world["store"].history.page()) if e.event == "rotation_abandoned")
    assert entry.detail["reason"] == "its app was deleted"
    assert "app not found" in entry.detail["last_error"]
    assert events == [
        RotationAbandoned(
            "media", failed.rotation_id, original, failed.new_access_key, True, done.reason
        )
    ]
    for sink in world["sinks"]:
        sink.fail_with = None
    again = world["rotation"]().rotate()  # no longer blocked: a new rotation, not a resume
    assert again.status == "succeeded"
    assert again.rotation_id != failed.rotation_id


def test_a_rotation_a_sink_confirmed_is_not_given_up_and_nothing_changes(world):
    world["sinks"][1].fail_with = "deployment ended ERROR"
    failed = world["rotation"]().rotate()
    history = list(world["store"].history.page())
    with pytest.raises(RotatorError, match=r"sink first already confirmed") as refused:
        abandon(world)
    assert "finish it with `rotator rotate media`" in str(refused.value)
    assert not isinstance(refused.value, UsageError)
    assert world["records"].in_flight("media").id == failed.rotation_id
    assert failed.new_access_key in alive(world)
    assert list(world["store"].history.page()) == history


def test_a_push_cut_short_may_hold_the_key_so_it_is_not_given_up(world):
    world["sinks"][0].fail_with = "app not found"
    failed = world["rotation"]().rotate()
    records = world["records"]
    record = records.get(failed.rotation_id)
    records.record_sink(record, "second", "pending", {})  # a crash in the middle of a push
    with pytest.raises(RotatorError, match="cut short"):
        abandon(world)
    assert records.in_flight("media") is not None


def test_a_key_made_just_before_a_crash_is_found_by_its_planned_name_and_deleted(world):
    rotation = world["rotation"]()
    record = rotation._begin()  # planned: the POST went out, its answer was never recorded
    orphan = world["sandbox"].add_spaces_key(record.new_key_name, world["grants"])
    done = abandon(world)
    assert done.state == "planned"
    assert done.deleted_keys == (orphan["access_key"],)
    assert orphan["access_key"] not in alive(world)
    assert world["original"]["access_key"] in alive(world)


def test_without_a_rotation_in_flight_there_is_nothing_to_abandon(world):
    with pytest.raises(UsageError, match="no rotation in flight"):
        abandon(world)
