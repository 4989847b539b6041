"""The contract every registered sink keeps, checked against its real destination.

A new sink type fails here until it has a harness below: a way to build it
against a real server and to read what that server truly serves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from rotator.sinks import SINK_TYPES
from rotator.sinks.base import Confirmation, PushContext, Sink
from tests.sinks.test_app_platform_support import make_app_sink  # noqa: F401 (a fixture)
from tests.sinks.vault_server import new_pair


@dataclass
class Harness:
    """A sink wired to a real destination, and that destination's truth."""

    sink: Sink
    served: Callable[[], tuple[str, str] | None]  # (access key, secret) as served now


def app_platform_harness(request: pytest.FixtureRequest) -> Harness:
    sandbox = request.getfixturevalue("sandbox")
    app_id = sandbox.app_ids()[0]
    sink = request.getfixturevalue("make_app_sink")(app_id, component="web")

    def served() -> tuple[str, str] | None:
        env = sandbox.app_running_env(app_id, "web")
        return env.get("SPACES_KEY"), env.get("SPACES_SECRET")

    return Harness(sink, served)


def vault_harness(request: pytest.FixtureRequest) -> Harness:
    vault = request.getfixturevalue("vault")
    kv_path = request.getfixturevalue("kv_path")
    sink = request.getfixturevalue("make_sink")()

    def served() -> tuple[str, str] | None:
        current = vault.read("secret", kv_path)
        if current is None:
            return None
        return current["data"]["access_key"], current["data"]["secret_key"]

    return Harness(sink, served)


HARNESSES: dict[str, Callable[[pytest.FixtureRequest], Harness]] = {
    "app_platform": app_platform_harness,
    "vault": vault_harness,
}


@pytest.fixture(params=sorted(SINK_TYPES))
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param not in HARNESSES:
        pytest.fail(f"sink type {request.param!r} has no contract harness in {__file__}")
    return HARNESSES[request.param](request)


@pytest.fixture
def context() -> PushContext:
    from datetime import UTC, datetime

    return PushContext("media", "contract-0001", datetime(2026, 11, 23, tzinfo=UTC))


def test_every_registered_sink_type_has_a_harness():
    assert set(SINK_TYPES) <= set(HARNESSES)


def test_check_and_describe_change_nothing_and_show_no_secret(harness, context):
    pair = new_pair()
    before = harness.served()
    harness.sink.check()
    lines = harness.sink.describe_push(pair.access_key, context)
    assert lines and all(isinstance(line, str) for line in lines)
    assert any(pair.access_key in line for line in lines)
    assert harness.served() == before


def test_a_push_is_confirmed_only_once_the_destination_serves_the_pair(harness, context):
    pair = new_pair()
    confirmation = harness.sink.push(pair, context)
    assert isinstance(confirmation, Confirmation)
    assert confirmation.sink == harness.sink.label
    assert harness.served() == (pair.access_key, pair.secret_key.reveal())
    assert pair.secret_key.reveal() not in repr(confirmation)
    assert harness.sink.holds() in (None, pair.access_key)


def test_a_push_can_be_repeated_after_a_crash_and_a_new_pair_replaces_the_old(harness, context):
    first, second = new_pair(), new_pair()
    harness.sink.push(first, context)
    harness.sink.push(first, context)  # a resumed rotation pushes the same pair again
    assert harness.served() == (first.access_key, first.secret_key.reveal())
    harness.sink.push(second, context)
    assert harness.served() == (second.access_key, second.secret_key.reveal())
    assert first.secret_key.reveal() not in repr(harness.sink)
