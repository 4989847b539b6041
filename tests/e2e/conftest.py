"""Fixtures for the end-to-end tests: a rotator home on the sandbox, initialised or not."""

from __future__ import annotations

import pytest

from tests.support.cli import Rotator


@pytest.fixture
def rotator(tmp_path, sandbox) -> Rotator:
    return Rotator(tmp_path, sandbox.url)


@pytest.fixture
def initialised(rotator) -> Rotator:
    assert rotator("init").code == 0
    return rotator
