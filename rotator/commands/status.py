"""``rotator status`` and ``rotator history``."""

from __future__ import annotations

import argparse

from rotator.output import print_json, print_table, stamp, when
from rotator.services.context import Context
from rotator.services.status import history as read_history
from rotator.services.status import status_report


def status(args: argparse.Namespace, ctx: Context) -> int:
    """Connections, policies and the store at a glance."""
    report = status_report(ctx)
    if args.json:
        print_json(report.to_json(), ctx.stdout)
        return 0
    out = ctx.stdout
    counts = report.connection_counts
    policies = report.policies
    out.write(f"store:  {report.store} (master key id {report.master_key_id})\n")
    out.write(f"config: {report.config or 'none'}\n\n")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    out.write(f"connections ({summary}):\n")
    now = ctx.now()
    print_table(
        ["name", "status", "reason", "last validated"],
        [
            [c.name, c.status, c.status_reason or "-", when(c.last_validated_at, now)]
            for c in report.connections
        ],
        out,
    )
    out.write("\npolicies:\n")
    print_table(
        ["name", "current key", "age", "next due", "in flight", "previous key"],
        [
            [
                p["name"],
                p["current_access_key"] or f"{p['spaces_key']} (not rotated yet)",
                p["current_age"] or "-",
                stamp(p["next_due_at"]) if p["next_due_at"] else "at first run",
                f"{p['in_flight']['id']} ({p['in_flight']['state']})" if p["in_flight"] else "-",
                f"{p['previous_access_key']} (deleted after {stamp(p['previous_revoke_after'])})"
                if p["previous_access_key"]
                else "-",
            ]
            for p in policies
        ],
        out,
    )
    for p in policies:
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
    return 0


def history(args: argparse.Namespace, ctx: Context) -> int:
    """One page of the audit log (the newest, or older than ``--before``), oldest first."""
    entries = read_history(ctx, subject=args.subject, limit=args.limit, before=args.before)
    if args.json:
        print_json([e.to_json() for e in entries], ctx.stdout)
        return 0
    print_table(
        ["at", "event", "subject", "outcome", "detail"],
        [
            [
                when(e.at),
                e.event,
                e.subject,
                e.outcome,
                " ".join(f"{k}={v}" for k, v in e.detail.items()),
            ]
            for e in entries
        ],
        ctx.stdout,
    )
    if entries and len(entries) == args.limit:
        ctx.stdout.write(f"older entries: rotator history --before {entries[0].id}\n")
    return 0
