"""A rotation into a file read by a real reloading service, beside another sink."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rotator.events import RotationFailed, SinkFailed
from rotator.secret import Secret
from rotator.sinks import KeyPair, PushContext


@pytest.fixture
def rotation_with_file(world, file_world):
    """The world's rotation with a file sink first (the service holds the original key)."""

    def build(**overrides):
        world["sinks"][:] = [file_world.sink(**overrides), world["sinks"][-1]]
        events: list[object] = []
        return world["rotation"](notify=events.append), events

    return build


def secret_of(sandbox, access_key):
    return next(k["secret_key"] for k in sandbox.spaces_keys() if k["access_key"] == access_key)


def test_the_service_serves_the_new_key_and_the_previous_file_lives_until_the_revoke(
    world, file_world, rotation_with_file
):
    sandbox, original = world["sandbox"], world["original"]
    held = KeyPair(original["access_key"], Secret(original["secret_key"]))
    file_world.sink().push(held, PushContext("media", "by-hand", world["clock"]()))
    rotation, _ = rotation_with_file()
    result = rotation.rotate()
    assert result.status == "succeeded", result.error
    assert [s.status for s in result.sinks] == ["confirmed", "confirmed"]
    new = result.new_access_key
    assert file_world.consumer.held() == new
    assert file_world.file()["SPACES_SECRET_KEY"] == secret_of(sandbox, new)
    assert file_world.previous.exists()  # the original key is still alive: keep its file
    assert original["secret_key"] in file_world.previous.read_text()
    world["clock"].moment += timedelta(hours=1, seconds=1)
    assert rotation.revoke_due() is True
    assert original["access_key"] not in {k["access_key"] for k in sandbox.spaces_keys()}
    assert not file_world.previous.exists()
    assert file_world.consumer.held() == new


@pytest.mark.parametrize(
    "breakage",
    [
        {"reload": ["false"]},
        {"check_timeout": timedelta(seconds=0.5), "check": "http://127.0.0.1:9/never"},
    ],
    ids=["reload-fails", "check-never-passes"],
)
def test_a_failed_reload_or_check_keeps_the_old_key_alerts_and_the_next_run_resumes(
    world, file_world, rotation_with_file, breakage
):
    sandbox, original = world["sandbox"], world["original"]
    file_world.sink(reload=None, check=None)  # a valid table before the first rotation
    rotation, events = rotation_with_file(**breakage)
    failed = rotation.rotate()
    assert failed.status == "failed"
    alive = {k["access_key"] for k in sandbox.spaces_keys()}
    assert {original["access_key"], failed.new_access_key} <= alive
    assert world["records"].policy_keys("media").current_access_key == original["access_key"]
    assert not file_world.path.exists()  # no file before the rotation: none after it failed
    assert any(isinstance(e, SinkFailed) for e in events)
    assert any(isinstance(e, RotationFailed) for e in events)
    assert secret_of(sandbox, failed.new_access_key) not in failed.error

    rotation, _ = rotation_with_file()
    resumed = rotation.rotate()
    assert resumed.status == "resumed", resumed.error
    assert resumed.new_access_key == failed.new_access_key  # no third key
    assert file_world.consumer.held() == resumed.new_access_key
