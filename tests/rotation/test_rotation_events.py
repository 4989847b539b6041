"""What a rotation reports to alerting: one typed event per thing that happened, each once."""

from __future__ import annotations

from datetime import timedelta

from rotator.events import KeyRevoked, RotationFailed, RotationSucceeded, SinkFailed


def test_a_rotation_and_its_revoke_report_success_then_one_key_revoked(world):
    events = []
    original = world["original"]["access_key"]
    rotation = world["rotation"](events.append)
    result = rotation.rotate()
    world["clock"].moment += timedelta(hours=1, seconds=1)
    assert rotation.revoke_due() is True
    assert events == [
        RotationSucceeded("media", original, result.new_access_key, ("first", "second")),
        KeyRevoked("media", original),
    ]


def test_a_failing_sink_reports_the_sink_and_the_rotation_once_each(world):
    events = []
    world["sinks"][1].fail_with = "deployment ended ERROR"
    result = world["rotation"](events.append).rotate()
    original = world["original"]["access_key"]
    new = result.new_access_key
    assert [type(event) for event in events] == [SinkFailed, RotationFailed]
    sink_failed, rotation_failed = events
    assert (sink_failed.policy, sink_failed.sink, sink_failed.new_access_key) == (
        "media",
        "second",
        new,
    )
    assert "deployment ended ERROR" in sink_failed.error
    assert (rotation_failed.old_access_key, rotation_failed.new_access_key) == (original, new)
    assert rotation_failed.error == result.error
