"""``rotator run [--once]``: the daemon (see :mod:`rotator.engine.daemon`)."""

from __future__ import annotations

import argparse

from rotator.services.context import Context


def run(args: argparse.Namespace, ctx: Context) -> int:
    """Validate, audit, rotate, revoke and alert on schedule until stopped; 0 on a clean stop.

    With ``--once``: run every due job once and exit 1 if any item failed.
    """
    from rotator.engine.daemon import Daemon  # only this command pays for the daemon's imports

    daemon = Daemon(
        ctx,
        once=args.once,
        health_listen=args.health_listen,
        health_public=args.health_public,
        environ=ctx.environ,
        stale_after=ctx.settings.config.daemon.stale_after.total_seconds(),
    )
    return daemon.run()
