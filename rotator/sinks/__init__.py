"""Sinks: where rotated keys go. One module per type, listed once in :data:`SINKS`.

Adding a destination is one module (its :class:`~rotator.sinks.base.SinkConfig`
model and its :class:`~rotator.sinks.base.Sink`), one line in :data:`SINKS`,
and the shared contract test (tests/sinks/test_sink_contract.py) passing for
it. The settings' union of ``[[policies.sinks]]`` tables and
:data:`SINK_TYPES` are derived from :data:`SINKS`; nothing else names a type.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from rotator.sinks.app_platform import AppPlatformSink
from rotator.sinks.base import Confirmation, KeyPair, PushContext, Sink, SinkConfig, SinkDeps
from rotator.sinks.file import FileSink
from rotator.sinks.github_actions import GitHubActionsSink
from rotator.sinks.kubernetes import KubernetesSink
from rotator.sinks.vault import VaultSink

SINKS: Final[tuple[type[Sink], ...]] = (
    AppPlatformSink,
    VaultSink,
    FileSink,
    KubernetesSink,
    GitHubActionsSink,
)

# type (as in the config's `type = ...`) → the sink class
SINK_TYPES: Final[Mapping[str, type[Sink]]] = MappingProxyType({sink.type: sink for sink in SINKS})


def build_sink(config: SinkConfig, deps: SinkDeps) -> Sink:
    """The sink for one ``[[policies.sinks]]`` table."""
    return config.build(deps)


__all__ = [
    "SINKS",
    "SINK_TYPES",
    "Confirmation",
    "KeyPair",
    "PushContext",
    "Sink",
    "SinkConfig",
    "SinkDeps",
    "build_sink",
]
