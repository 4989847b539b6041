"""``rotator run [--once]``: the daemon (see :mod:`rotator.engine.daemon`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rotator.errors import UsageError
from rotator.output import print_json
from rotator.services.context import Context

if TYPE_CHECKING:
    from rotator.engine.jobs.base import Summary

DEFERRED = frozenset({"not_due", "deferred", "waiting_for_deployment"})
"""Outcomes of items looked at but left for later (not done, not failed)."""


def run(args: argparse.Namespace, ctx: Context) -> int:
    """Validate, audit, rotate, revoke and alert on schedule until stopped; 0 on a clean stop.

    With ``--once``: run every due job once and exit 1 if any item failed;
    with ``--json`` too, print what each job did as one JSON document.
    """
    if args.json and not args.once:
        raise UsageError("--json goes with --once (the daemon reports by its logs and /metrics)")
    from rotator.engine.daemon import Daemon  # only this command pays for the daemon's imports

    daemon = Daemon(
        ctx,
        once=args.once,
        health_listen=args.health_listen,
        health_public=args.health_public,
        environ=ctx.environ,
        stale_after=ctx.settings.config.daemon.stale_after.total_seconds(),
        exit_hard=True,
    )
    code = daemon.run()
    if args.json:
        print_json(once_json(daemon.summaries, code), ctx.stdout)
    return code


def once_json(summaries: list[Summary], code: int) -> dict[str, Any]:
    """``run --once --json``: per job, its items and how they came out."""
    return {"ok": code == 0, "jobs": [job_json(summary) for summary in summaries]}


def job_json(summary: Summary) -> dict[str, Any]:
    """One job's run: ``items`` looked at, of which ``succeeded``, ``failed`` and ``deferred``."""
    total = sum(summary.outcomes.values())
    deferred = sum(n for outcome, n in summary.outcomes.items() if outcome in DEFERRED)
    return {
        "job": summary.job,
        "items": max(summary.due, total),
        "succeeded": total - summary.failed - deferred,
        "failed": summary.failed,
        "deferred": deferred,
        "outcomes": dict(sorted(summary.outcomes.items())),
        "error": summary.error,
        "seconds": round(summary.seconds, 3),
    }
