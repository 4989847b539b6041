"""Alert channels, the persisted outbox, and de-duplication.

Adding a channel is one module (its :class:`~rotator.alerts.base.ChannelConfig`
model and its :class:`~rotator.alerts.base.Channel`), one line in
:data:`CHANNELS`, and ``tests/alerts/test_channel_contract.py`` passing for
it. The settings' union of ``[[alerts]]`` tables and :data:`CHANNEL_TYPES`
are derived from :data:`CHANNELS`.

Flow: the daemon builds a :class:`Dispatcher`; ``raise_condition`` and
``clear_condition`` decide (de-duplication) and enqueue in the same store
transaction; ``flush`` delivers what is due through the :class:`Outbox`,
retrying with backoff. A failing channel is logged and retried, never raised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from rotator.alerts.base import EVENTS, Alert, Channel, ChannelConfig, Event
from rotator.alerts.dispatcher import Dispatcher
from rotator.alerts.outbox import DeliveryReport, DeliveryResult, Outbox
from rotator.alerts.slack import SlackChannel
from rotator.alerts.webhook import WebhookChannel, verify_signature
from rotator.errors import ConfigError

CHANNELS: Final[tuple[type[Channel], ...]] = (WebhookChannel, SlackChannel)

# config ``type`` → the channel class
CHANNEL_TYPES: Final[Mapping[str, type[Channel]]] = MappingProxyType(
    {channel.type: channel for channel in CHANNELS}
)


def channel_names(configs: Sequence[ChannelConfig]) -> list[str]:
    """Each channel's name: its ``name``, else ``<type>-<n>`` counting that type from 1.

    The name keys the channel's rows in the outbox, so an operator who
    reorders or removes channels should name them to keep pending alerts
    with the right channel.
    """
    seen: Counter[str] = Counter()
    names = []
    for config in configs:
        seen[config.type] += 1
        names.append(config.name or f"{config.type}-{seen[config.type]}")
    return names


def build_channels(configs: Sequence[ChannelConfig]) -> list[Channel]:
    """Channels from the ``[[alerts]]`` tables, secrets read now (ConfigError if not)."""
    names = channel_names(configs)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError("config", [f"alerts: two channels are named {twice[0]!r}"])
    problems: list[str] = []
    channels: list[Channel] = []
    for config, name in zip(configs, names, strict=True):
        try:
            channels.append(config.build(name))
        except ConfigError as exc:  # report every unreadable secret at once
            problems += exc.problems
    if problems:
        raise ConfigError("config", problems)
    return channels


__all__ = [
    "CHANNELS",
    "CHANNEL_TYPES",
    "EVENTS",
    "Alert",
    "Channel",
    "ChannelConfig",
    "DeliveryReport",
    "DeliveryResult",
    "Dispatcher",
    "Event",
    "Outbox",
    "SlackChannel",
    "WebhookChannel",
    "build_channels",
    "channel_names",
    "verify_signature",
]
