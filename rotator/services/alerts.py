"""``rotator alerts test``: prove every configured alert channel can be reached."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rotator import httpguard
from rotator.alerts import Dispatcher, build_channels
from rotator.alerts.dispatcher import TestResult
from rotator.errors import ConfigError

if TYPE_CHECKING:
    from rotator.services.context import Context


def send_test_alerts(ctx: Context) -> list[TestResult]:
    """Send a test alert through each channel (ConfigError when none is configured)."""
    settings = ctx.settings
    if not settings.config.alerts:
        source = str(settings.config_path) if settings.config_path else "config"
        raise ConfigError(source, ["no alert channel is configured (add an [[alerts]] table)"])
    channels = build_channels(settings.config.alerts)
    with ctx.open_store(writer=True) as store, httpguard.guarded_client(timeout=10.0) as http:
        dispatcher = Dispatcher(
            store,
            channels,
            http,
            now=ctx.now,
            reminder=settings.config.daemon.alert_reminder,
        )
        return dispatcher.send_test()
