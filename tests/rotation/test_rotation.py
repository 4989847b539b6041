"""The rotation state machine against the sandbox, with an in-memory sink under test control."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rotator.errors import StoreLocked
from rotator.store import WriterLock


def live_keys(sandbox) -> dict[str, dict]:
    """This policy's keys alive in the sandbox (it seeds others of its own)."""
    return {
        key["access_key"]: key
        for key in sandbox.spaces_keys()
        if key["name"] == "media-original" or key["name"].startswith("rotator-media-")
    }


def test_a_rotation_creates_a_key_with_the_same_grants_and_every_sink_gets_it(world):
    sandbox, original = world["sandbox"], world["original"]
    result = world["rotation"]().rotate()
    assert result.status == "succeeded", result.error
    keys = live_keys(sandbox)
    new = keys[result.new_access_key]
    assert new["grants"] == original["grants"]
    assert new["name"] == f"rotator-media-{result.rotation_id}"
    for sink in world["sinks"]:
        assert sink.pair.access_key == new["access_key"]
        assert sink.pair.secret_key.reveal() == new["secret_key"]
    assert original["access_key"] in keys  # still alive through the grace period
    policy_keys = world["records"].policy_keys("media")
    assert (policy_keys.current_access_key, policy_keys.previous_access_key) == (
        new["access_key"],
        original["access_key"],
    )


def test_the_previous_key_is_deleted_only_after_the_grace_period(world):
    sandbox, original = world["sandbox"], world["original"]
    rotation = world["rotation"]()
    rotation.rotate()
    assert rotation.revoke_due() is None
    assert original["access_key"] in live_keys(sandbox)
    world["clock"].moment += timedelta(hours=1, seconds=1)
    assert rotation.revoke_due() is True
    assert original["access_key"] not in live_keys(sandbox)
    assert world["records"].policy_keys("media").previous_access_key is None


def test_a_second_rotation_waits_for_the_grace_period_then_revokes_first(world):
    sandbox = world["sandbox"]
    first = world["rotation"]().rotate()
    with pytest.raises(Exception, match="grace period"):
        world["rotation"]().rotate()
    world["clock"].moment += timedelta(hours=2)
    second = world["rotation"]().rotate()
    assert second.status == "succeeded"
    assert set(live_keys(sandbox)) == {first.new_access_key, second.new_access_key}


def test_a_failing_sink_keeps_both_keys_alive_and_the_next_run_resumes(world):
    sandbox, original = world["sandbox"], world["original"]
    first_sink, second_sink = world["sinks"]
    second_sink.fail_with = "deployment ended ERROR"
    failed = world["rotation"]().rotate()
    assert failed.status == "failed"
    assert "deployment ended ERROR" in failed.error
    assert {original["access_key"], failed.new_access_key} <= set(live_keys(sandbox))
    assert world["records"].policy_keys("media").current_access_key == original["access_key"]
    second_sink.fail_with = None
    resumed = world["rotation"]().rotate()
    assert resumed.status == "resumed"
    assert resumed.new_access_key == failed.new_access_key  # no third key
    assert first_sink.pushes == 1  # a confirmed sink is not pushed again
    assert len(live_keys(sandbox)) == 2


def test_a_lost_create_answer_leaves_no_unrecorded_key(world):
    sandbox = world["sandbox"]
    before = set(live_keys(sandbox))
    sandbox.add_fault(method="POST", path="/v2/spaces/keys", times=1, drop=True, after=True)
    lost = world["rotation"]().rotate()
    assert lost.status == "failed"
    assert set(live_keys(sandbox)) == before  # the key made behind the lost answer is gone
    retried = world["rotation"]().rotate()
    assert retried.status == "resumed"
    assert set(live_keys(sandbox)) == before | {retried.new_access_key}


def test_a_key_created_just_before_a_crash_is_found_by_name_and_replaced(world):
    sandbox = world["sandbox"]
    rotation = world["rotation"]()
    record = rotation._begin()  # planned, as a crash right after the POST leaves it
    orphan = sandbox.add_spaces_key(record.new_key_name, world["grants"])
    result = rotation.rotate()
    assert result.status == "resumed"
    keys = live_keys(sandbox)
    assert orphan["access_key"] not in keys
    assert result.new_access_key in keys


def test_a_dry_run_changes_nothing_anywhere(world):
    sandbox, store = world["sandbox"], world["store"]
    before = sandbox.snapshot()
    history = list(store.history.page())
    result = world["rotation"]().rotate(dry_run=True)
    assert result.status == "dry_run"
    assert any("create key rotator-media-" in step for step in result.steps)
    assert sandbox.snapshot() == before
    assert list(store.history.page()) == history
    assert world["records"].policy_keys("media") is None
    assert all(sink.pushes == 0 for sink in world["sinks"])
    assert all(r["method"] == "GET" for r in sandbox.requests())


def test_a_second_rotation_of_the_same_policy_is_refused_while_one_runs(world):
    lock = WriterLock(world["lock"], what="policy 'media'")
    lock.acquire()
    try:
        with pytest.raises(StoreLocked, match="policy 'media' is in use by another process"):
            world["rotation"]().rotate()
    finally:
        lock.release()
    assert world["rotation"]().rotate().status == "succeeded"


def test_every_step_is_in_the_history_with_key_ids_and_no_secret(world):
    result = world["rotation"]().rotate()
    events = [entry for entry in list(world["store"].history.page()) if entry.subject == "media"]
    names = [entry.event for entry in events]
    assert names[:2] == ["rotation_planned", "rotation_key_created"]
    assert names.count("rotation_sink_confirmed") == 2
    assert names[-1] == "rotation_promoted"
    secret = live_keys(world["sandbox"])[result.new_access_key]["secret_key"]
    assert all(secret not in str(entry.to_json()) for entry in events)


def test_a_previous_key_that_cannot_be_deleted_blocks_a_new_rotation_with_a_clear_reason(world):
    sandbox = world["sandbox"]
    world["rotation"]().rotate()
    world["clock"].moment += timedelta(hours=2)
    sandbox.add_fault(method="DELETE", path="/v2/spaces/keys/.*", status=500, times=None)
    with pytest.raises(Exception, match="could not be deleted"):
        world["rotation"]().rotate()
    keys = world["records"].policy_keys("media")
    assert keys.previous_access_key and keys.revoke_error
    assert len(live_keys(sandbox)) == 2
    sandbox.clear_faults()
    assert world["rotation"]().rotate().status == "succeeded"
    assert len(live_keys(sandbox)) == 2
