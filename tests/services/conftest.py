"""A rotator home for in-process service tests: config file, state dir, master key, a clock."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rotator.cli import main
from rotator.services.context import Context

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.moment = START

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, span: timedelta) -> None:
        self.moment += span


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_context(tmp_path: Path, clock: Clock) -> Callable[..., Context]:
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
