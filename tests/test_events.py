"""Events are typed: a `match` that forgets one fails mypy, and each is a frozen value."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

import pytest

from rotator import events

PROBE = """
from typing import assert_never

from rotator.events import Event, KeyRevoked, RevokeFailed


def handle(event: Event) -> None:
    match event:
        case KeyRevoked():
            pass
        case RevokeFailed():
            pass
        case _:
            assert_never(event)
"""


def test_mypy_rejects_a_match_that_forgets_an_event(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'Argument 1 to "assert_never" has incompatible type' in result.stdout
    assert "RotationAbandoned" in result.stdout  # one of the events the probe forgot


@pytest.mark.parametrize("kind", typing.get_args(events.Event))
def test_every_event_is_a_frozen_dataclass(kind):
    assert dataclasses.is_dataclass(kind)
    assert kind.__dataclass_params__.frozen
