"""``rotator status``: connections, policies (keys, due times, rotations in flight), the store."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rotator.durations import format_duration
from rotator.output import ago
from rotator.services.due import rotation_due
from rotator.settings import PolicyConfig
from rotator.store import AuditEntry, Connection, Lease, Leases, Replica, Rotations, policy_item

if TYPE_CHECKING:
    from rotator.services.context import Context


@dataclass(frozen=True)
class StatusReport:
    """What ``rotator status`` shows."""

    store: str
    """Where the store is, as messages name it (a file, or a database without its password)."""
    master_key_id: str
    config: Path | None
    connections: list[Connection]
    policies: list[dict[str, Any]]
    replicas: list[Replica] | None = None
    """The replicas (``rotator run`` processes) with a recent heartbeat."""

    @property
    def connection_counts(self) -> Counter[str]:
        return Counter(c.status for c in self.connections)

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "master_key_id": self.master_key_id,
            "config": str(self.config) if self.config else None,
            "connections": [c.to_json() for c in self.connections],
            "connection_counts": dict(self.connection_counts),
            "policies": self.policies,
            "replicas": [r.to_json() for r in self.replicas or ()],
        }


def status_report(ctx: Context) -> StatusReport:
    """Connections, policies and the store, read once."""
    settings = ctx.settings
    now = ctx.now()
    with ctx.open_store(writer=False) as store:
        connections = store.connections.all()
        key_id = store.keyring.primary.key_id
        where = store.where
        records = store.rotations
        leases = store.leases
        policies = [policy_status(p, records, now, leases) for p in settings.config.policies]
        ttl = settings.config.daemon.lease_ttl
        replicas = leases.replicas(seen_within=ttl * 3)
    return StatusReport(where, key_id, settings.config_path, connections, policies, replicas)


def policy_status(
    policy: PolicyConfig, records: Rotations, now: datetime, leases: Leases | None = None
) -> dict[str, Any]:
    """One policy's keys, due time (the daemon's) and any rotation in flight, as JSON.

    With *leases*: which replica holds a rotation in flight, and until when.
    """
    keys = records.policy_keys(policy.name)
    flight = records.in_flight(policy.name)
    lease: Lease | None = None
    if flight is not None and leases is not None:
        lease = leases.get(policy_item(policy.name))
        lease = lease if lease is not None and lease.alive else None
    due = rotation_due(policy, keys, in_flight=flight is not None, now=now)
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
        "next_due_at": due.isoformat() if due else None,
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
            "holder": lease.holder if lease else None,
            "lease_expires_at": lease.expires_at.isoformat() if lease else None,
        }
        if flight
        else None,
    }


def history(
    ctx: Context, *, subject: str | None, limit: int, before: int | None = None
) -> list[AuditEntry]:
    """``rotator history``: one page of the audit log, oldest first.

    The newest *limit* entries (of *subject*), or those older than entry id
    *before*; rows are read one at a time, so memory is bounded by the page.
    """
    with ctx.open_store(writer=False) as store:
        return list(store.history.page(subject=subject, limit=limit, before=before))
