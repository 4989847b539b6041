"""A rotator home for in-process service tests: config file, state dir, master key, a clock."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rotator.cli import main
from rotator.services.context import Context
from tests.support.clock import FakeClock

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def make_context(tmp_path: Path, clock: FakeClock) -> Callable[..., Context]:
    """A Context on the fake clock, for a config (written now) and an initialised store."""

    def make(config: str = "", **environ: str) -> Context:
        path = tmp_path / "rotator.toml"
        path.write_text(config)
        env = {"ROTATOR_STATE_DIR": str(tmp_path / "state"), **environ}
        if not (tmp_path / "state" / "rotator.db").exists():
            quiet = Context(environ=env, config_path=path, stdout=io.StringIO())
            assert main(["init"], quiet) == 0
        return Context(
            environ=env,
            config_path=path,
            stdin=io.StringIO(),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
            now=clock,
        )

    return make
