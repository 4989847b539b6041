"""``rotator status`` and ``rotator history``."""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime
from typing import Any

from rotator.context import Context
from rotator.durations import format_duration
from rotator.output import ago, print_json, print_table, when
from rotator.settings import PolicyConfig
from rotator.store import Rotations


def status(args: argparse.Namespace, ctx: Context) -> int:
    """Connections, policies and the store at a glance."""
    settings = ctx.settings
    with ctx.open_store(writer=False) as store:
        connections = store.connections.all()
        key_id = store.keyring.primary.key_id
        where = store.where
        records = store.rotations
        policies = [_policy_status(p, records, ctx.now()) for p in settings.config.policies]
    counts = Counter(c.status for c in connections)
    document: dict[str, Any] = {
        "store": where,
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
    out.write(f"store:  {where} (master key id {key_id})\n")
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
        ["name", "current key", "age", "next due", "in flight", "previous key"],
        [
            [
                p["name"],
                p["current_access_key"] or f"{p['spaces_key']} (not rotated yet)",
                p["current_age"] or "-",
                p["next_due_at"] or "at first run",
                f"{p['in_flight']['id']} ({p['in_flight']['state']})" if p["in_flight"] else "-",
                f"{p['previous_access_key']} (deleted after {p['previous_revoke_after']})"
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
    return 0


def _policy_status(policy: PolicyConfig, records: Rotations, now: datetime) -> dict[str, Any]:
    """One policy's keys, due time and any rotation in flight, as JSON."""
    keys = records.policy_keys(policy.name)
    flight = records.in_flight(policy.name)
    return {
        "name": policy.name,
        "connection": policy.connection,
        "spaces_key": policy.spaces_key,
        "every": format_duration(policy.every),
        "grace": format_duration(policy.grace),
        "sinks": [sink.label for sink in policy.sinks],
        "current_access_key": keys.current_access_key if keys else None,
        "current_since": keys.current_since.isoformat() if keys else None,
        "current_age": ago(now - keys.current_since) if keys else None,
        "next_due_at": (keys.current_since + policy.every).isoformat() if keys else None,
        "previous_access_key": keys.previous_access_key if keys else None,
        "previous_revoke_after": keys.previous_revoke_after.isoformat()
        if keys and keys.previous_revoke_after
        else None,
        "revoke_error": keys.revoke_error if keys else None,
        "in_flight": {
            "id": flight.id,
            "state": flight.state,
            "new_access_key": flight.new_access_key,
            "new_key_name": flight.new_key_name,
            "started_at": flight.started_at.isoformat(),
            "last_error": flight.last_error,
        }
        if flight
        else None,
    }


def history(args: argparse.Namespace, ctx: Context) -> int:
    """One page of the audit log (the newest, or older than ``--before``), oldest first."""
    with ctx.open_store(writer=False) as store:
        page = store.history.page(subject=args.subject, limit=args.limit, before=args.before)
        entries = list(page)
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
