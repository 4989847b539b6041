"""``rotator status`` and ``rotator history``."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from rotator.context import Context
from rotator.durations import format_duration
from rotator.output import print_json, print_table, when


def status(args: argparse.Namespace, ctx: Context) -> int:
    """Connections, policies and the store at a glance."""
    settings = ctx.settings
    with ctx.open_store(writer=False) as store:
        connections = store.list_connections()
        key_id = store.keyring.primary.key_id
    counts = Counter(c.status for c in connections)
    policies = [
        {
            "name": p.name,
            "connection": p.connection,
            "spaces_key": p.spaces_key,
            "every": format_duration(p.every),
            "grace": format_duration(p.grace),
            "sinks": [s.label for s in p.sinks],
        }
        for p in settings.config.policies
    ]
    document: dict[str, Any] = {
        "store": str(settings.store_path),
        "master_key_id": key_id,
        "config": str(settings.config_path) if settings.config_path else None,
        "connections": [c.to_json() for c in connections],
        "connection_counts": dict(counts),
        "policies": policies,
    }
    if args.json:
        print_json(document, ctx.stdout)
        return 0
    out = ctx.stdout
    out.write(f"store:  {settings.store_path} (master key id {key_id})\n")
    out.write(f"config: {document['config'] or 'none'}\n\n")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    out.write(f"connections ({summary}):\n")
    now = ctx.now()
    print_table(
        ["name", "status", "reason", "last validated"],
        [
            [c.name, c.status, c.status_reason or "-", when(c.last_validated_at, now)]
            for c in connections
        ],
        out,
    )
    out.write("\npolicies:\n")
    print_table(
        ["name", "connection", "spaces key", "every", "sinks"],
        [
            [p["name"], p["connection"], p["spaces_key"], p["every"], ", ".join(p["sinks"])]
            for p in policies
        ],
        out,
    )
    return 0


def history(args: argparse.Namespace, ctx: Context) -> int:
    """The audit log, oldest first."""
    with ctx.open_store(writer=False) as store:
        entries = store.history(subject=args.subject, limit=args.limit)
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
    return 0
