"""``rotator alerts test``: prove every configured alert channel can be reached."""

from __future__ import annotations

import argparse

import httpx

from rotator.alerts import Dispatcher, build_channels
from rotator.context import Context
from rotator.errors import ConfigError
from rotator.output import print_json


def test(args: argparse.Namespace, ctx: Context) -> int:
    """Send a test alert to each channel; exit 1 if any failed, 2 if none is configured."""
    settings = ctx.settings
    if not settings.config.alerts:
        source = str(settings.config_path) if settings.config_path else "config"
        raise ConfigError(source, ["no alert channel is configured (add an [[alerts]] table)"])
    channels = build_channels(settings.config.alerts)
    with ctx.open_store(writer=True) as store, httpx.Client() as http:
        dispatcher = Dispatcher(
            store,
            channels,
            http,
            now=ctx.now,
            reminder=settings.config.daemon.alert_reminder,
        )
        results = dispatcher.send_test()
    if args.json:
        print_json({"channels": [result.to_json() for result in results]}, ctx.stdout)
    else:
        width = max(len(result.channel) for result in results)
        for result in results:
            outcome = "ok" if result.ok else f"error: {result.error}"
            waiting = f" ({result.pending} queued alert(s) waiting)" if result.pending else ""
            where = f"{result.type:<7}  {result.target}"
            ctx.stdout.write(f"{result.channel:<{width}}  {where}  {outcome}{waiting}\n")
    return 0 if all(result.ok for result in results) else 1
