"""A ``file`` sink wired to a real reloading service (a child process), and what it really holds.

The service (:mod:`rotator.sandbox.consumer`) reads the env file at start and
on SIGHUP and answers ``GET /key?expect=<key>`` with 2xx only when it holds
that key; its ``reload`` command records its own argv and environment, so a
test can prove no secret ever reached a child.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rotator.sandbox.consumer import Consumer
from rotator.sinks import SinkDeps
from rotator.sinks.file import FileSink, FileSinkConfig
from rotator.sinks.file_format import parse


@dataclass
class FileWorld:
    """A directory, the env file's path in it, the service reading it, and its reload record."""

    path: Path
    consumer: Consumer
    record: Path

    @property
    def previous(self) -> Path:
        return self.path.with_name(self.path.name + ".previous")

    def table(self, **overrides: Any) -> dict[str, Any]:
        """The ``[[policies.sinks]]`` table: reload the service, check it serves the new key."""
        return {
            "type": "file",
            "path": str(self.path),
            "reload": self.consumer.reload_command(self.record),
            "reload_timeout": "20s",
            "check": self.consumer.url + "?expect={access_key}",
            "check_timeout": "20s",
            **overrides,
        }

    def sink(self, **overrides: Any) -> FileSink:
        config = FileSinkConfig.model_validate(self.table(**overrides))
        return config.build(SinkDeps(policy="media", poll_interval=0.05))

    def file(self) -> dict[str, str]:
        """The env file's variables (empty when it is absent)."""
        if not self.path.exists():
            return {}
        return parse("env", self.path.read_bytes())

    def served(self) -> tuple[str | None, str | None]:
        """(the key the service holds, the secret in the file beside it)."""
        return self.consumer.held(), self.file().get("SPACES_SECRET_KEY")

    def reloads(self) -> list[dict[str, Any]]:
        """Every reload child's argv and environment, in order."""
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


@pytest.fixture
def file_world(tmp_path: Path) -> Iterator[FileWorld]:
    directory = tmp_path / "srv"
    directory.mkdir()
    path = directory / "app.env"
    with Consumer(path) as consumer:
        yield FileWorld(path, consumer, tmp_path / "reloads.jsonl")
