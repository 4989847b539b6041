"""``rotator alerts test``: prove every configured alert channel can be reached."""

from __future__ import annotations

import argparse

from rotator.output import print_json
from rotator.services.alerts import send_test_alerts
from rotator.services.context import Context


def test(args: argparse.Namespace, ctx: Context) -> int:
    """Send a test alert to each channel; exit 1 if any failed, 2 if none is configured."""
    results = send_test_alerts(ctx)
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
