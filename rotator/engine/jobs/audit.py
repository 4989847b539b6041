"""Scope audit: each connection every ``daemon.audit_every``, spread by jitter.

Due: the stored scope report's ``audited_at + audit_every - jitter(name)``.
A connection is due at once when it has no report for its current token, or
its report was judged against other required scopes than the config now
gives (a policy was added or changed). The audit itself is
:func:`rotator.services.audit.audit_scopes`, never reusing a cached report: the job runs it
only when the cached one is due for renewal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rotator.engine.jobs.base import Pass
from rotator.engine.jobs.concurrent import ConcurrentJob, Cost
from rotator.engine.jobs.due import periodic_due
from rotator.services.audit import audit_scopes, required_for

AUDIT_CALLS = 37
"""A rotator-only token probed with an App Platform sink (token info answers in 1)."""


class AuditJob(ConcurrentJob):
    """Compare what each token can do with what its policies need."""

    name = "audit"
    failed_outcomes = frozenset({"unknown", "error"})

    def interval(self, run: Pass, item: str) -> timedelta:
        return run.settings.config.daemon.audit_every

    def due_items(self, run: Pass) -> dict[str, datetime]:
        every = run.settings.config.daemon.audit_every
        due = {}
        for connection in run.store.connections.all():
            name = connection.name
            stored = run.store.scopes.load(name)
            if stored is None or set(stored.report.get("required", ())) != required_for(
                run.settings, name
            ):
                when = run.now
            else:
                when = periodic_due(f"audit:{name}", stored.audited_at, every, run.now)
            due[name] = self.backoff.due(name, when)
        return due

    def cost(self, run: Pass, item: str) -> Cost:
        return Cost(run.store.connections.get(item).fingerprint, AUDIT_CALLS)

    def run_item(self, run: Pass, item: str) -> str:
        return audit_scopes(run.context, run.store, item, run.notify, max_age=None).verdict
