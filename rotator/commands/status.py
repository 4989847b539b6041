"""``rotator status`` and ``rotator history``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from rotator.output import Streamed, print_json, print_table, print_table_streamed, stamp, when
from rotator.services.context import Context
from rotator.services.status import StatusReport, status_report
from rotator.services.status import history as read_history


def status(args: argparse.Namespace, ctx: Context) -> int:
    """Connections, policies and the store at a glance, printed as read (a row at a time)."""
    with status_report(ctx) as report:
        if args.json:
            print_json(report.to_json(), ctx.stdout)
            return 0
        _print_status(report, ctx)
    return 0


def _print_status(report: StatusReport, ctx: Context) -> None:
    out = ctx.stdout
    counts = report.connection_counts
    out.write(f"store:  {report.store} (master key id {report.master_key_id})\n")
    out.write(f"config: {report.config or 'none'}\n\n")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    out.write(f"connections ({summary}):\n")
    now = ctx.now()
    print_table_streamed(
        ["name", "status", "reason", "last validated"],
        lambda: (
            [c.name, c.status, c.status_reason or "-", when(c.last_validated_at, now)]
            for c in report.connections()
        ),
        out,
    )
    out.write("\npolicies:\n")
    print_table_streamed(
        ["name", "current key", "age", "next due", "in flight", "previous key"],
        lambda: (
            [
                p["name"],
                p["current_access_key"] or f"{p['spaces_key']} (not rotated yet)",
                p["current_age"] or "-",
                stamp(p["next_due_at"]) if p["next_due_at"] else "at first run",
                f"{p['in_flight']['id']} ({p['in_flight']['state']})" if p["in_flight"] else "-",
                f"{p['previous_access_key']} (revoked after {stamp(p['previous_revoke_after'])})"
                if p["previous_access_key"]
                else "-",
            ]
            for p in report.policies()
        ),
        out,
    )
    for p in report.policies():
        if p["in_flight"] and p["in_flight"]["last_error"]:
            out.write(f"  {p['name']}: last error: {p['in_flight']['last_error']}\n")
        if p["revoke_error"]:
            out.write(f"  {p['name']}: revoke failed: {p['revoke_error']}\n")
        if p["in_flight"] and p["in_flight"]["holder"]:
            flight = p["in_flight"]
            out.write(
                f"  {p['name']}: held by {flight['holder']} "
                f"until {stamp(flight['lease_expires_at'])}\n"
            )
    if report.replicas:
        out.write("\nreplicas:\n")
        print_table(
            ["id", "host", "pid", "version", "last seen"],
            [
                [r.id, r.host, str(r.pid), r.version, when(r.last_seen, now)]
                for r in report.replicas
            ],
            out,
        )


def history(args: argparse.Namespace, ctx: Context) -> int:
    """One page of the audit log (the newest, or older than ``--before``), oldest first."""
    with read_history(ctx, subject=args.subject, limit=args.limit, before=args.before) as page:
        if args.json:
            print_json(Streamed(e.to_json() for e in page()), ctx.stdout)
            return 0
        shown = 0
        oldest: int | None = None

        def rows() -> Iterator[list[Any]]:
            nonlocal shown, oldest
            shown, oldest = 0, None  # each pass counts afresh; the printing pass is the last
            for e in page():
                shown += 1
                oldest = e.id if oldest is None else oldest
                yield [
                    when(e.at),
                    e.event,
                    e.subject,
                    e.outcome,
                    " ".join(f"{k}={v}" for k, v in e.detail.items()),
                ]

        print_table_streamed(["at", "event", "subject", "outcome", "detail"], rows, ctx.stdout)
    if oldest is not None and shown == args.limit:
        ctx.stdout.write(f"older entries: rotator history --before {oldest}\n")
    return 0
