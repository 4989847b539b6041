"""Fixtures every test directory shares: the DigitalOcean sandbox, its spec, and (from
:mod:`tests.support.fixtures`) the clock, the store, the receiver, OpenBao, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rotator.sandbox import Sandbox
from tests.support.reloading_service import file_world  # noqa: F401 (a fixture for every test)

pytest_plugins = ["tests.support.fixtures"]

REPOSITORY = Path(__file__).resolve().parent.parent
# The reduced official spec is kept in the repository (tests/spec/, with its
# source and licence in the README there), so a fresh clone runs every
# contract test; an environment variable can point at another copy.
OPENAPI_FILE = Path(
    os.environ.get(
        "DIGITALOCEAN_OPENAPI_FILE",
        REPOSITORY / "tests" / "spec" / "digitalocean-openapi.json",
    )
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's rotator or systemd settings."""
    for name in list(os.environ):
        if name.startswith("ROTATOR_") or name in (
            "STATE_DIRECTORY",
            "CREDENTIALS_DIRECTORY",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A running sandbox with its demo world and fast deployments (0.05 s a step)."""
    with Sandbox(deployment_step_seconds=0.05) as running:
        yield running


@pytest.fixture(scope="session")
def openapi_spec() -> Any:
    """An openapi-core ``OpenAPI`` for DigitalOcean's spec, built once per session.

    The spec ships with the tests, so a missing file is an error, not a skip.
    Default settings only: the spec's README explains why the "forbid" policies
    reject correct bodies.
    """
    if not OPENAPI_FILE.is_file():
        pytest.fail(f"DigitalOcean OpenAPI spec not found at {OPENAPI_FILE}", pytrace=False)
    openapi_core = pytest.importorskip("openapi_core")
    return openapi_core.OpenAPI.from_file_path(str(OPENAPI_FILE))
