"""Sinks: where rotated keys go. One module per type, listed in :data:`SINK_TYPES`.

Adding a destination is one module with a :class:`~rotator.sinks.base.Sink`
subclass and a ``from_config`` factory, one line below, and the shared
contract test (tests/sinks/test_sink_contract.py) passing for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rotator.digitalocean.client import DigitalOceanClient
from rotator.sinks.app_platform import AppPlatformSink
from rotator.sinks.base import Confirmation, KeyPair, PushContext, Sink
from rotator.sinks.vault import VaultSink


@dataclass
class SinkDeps:
    """What a sink may need from outside, injected so tests control it."""

    digitalocean: DigitalOceanClient | None = None
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    deploy_timeout: float = 900.0  # seconds to wait for an App Platform deployment
    poll_interval: float = 5.0
    extra: dict[str, Any] = field(default_factory=dict)


SinkFactory = Callable[[Any, SinkDeps], Sink]

# type (as in the config's `type = ...`) → factory taking (config, deps)
SINK_TYPES: dict[str, SinkFactory] = {
    "app_platform": AppPlatformSink.from_config,
    "vault": VaultSink.from_config,
}


def build_sink(config: Any, deps: SinkDeps) -> Sink:
    """The sink for one ``[[policies.sinks]]`` entry."""
    return SINK_TYPES[config.type](config, deps)


__all__ = ["SINK_TYPES", "Confirmation", "KeyPair", "PushContext", "Sink", "SinkDeps", "build_sink"]
