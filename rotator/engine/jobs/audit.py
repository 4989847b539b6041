"""Scope audit: each connection every ``daemon.audit_every``, spread by jitter.

Due: the stored scope report's ``audited_at + audit_every - jitter(name)``.
A connection is due at once when it has no report for its current token, or
its report was judged against other required scopes than the config now
gives (a policy was added or changed). Each time is worked out when an audit is
recorded, or the config changes, and kept in the store
(:mod:`rotator.engine.jobs.kept`). The audit itself is
:func:`rotator.services.audit.audit_scopes`, never reusing a cached report: the job runs it
only when the cached one is due for renewal.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from rotator.engine.jobs.base import Pass
from rotator.engine.jobs.concurrent import Cost
from rotator.engine.jobs.due import JITTER_FRACTION, periodic_due
from rotator.engine.jobs.kept import KeptDueJob
from rotator.services.audit import audit_scopes, required_by_connection
from rotator.settings import Settings
from rotator.store.due import Unset

AUDIT_CALLS = 37
"""A rotator-only token probed with an App Platform sink (token info answers in 1)."""


class AuditJob(KeptDueJob):
    """Compare what each token can do with what its policies need."""

    name = "audit"
    kind = "audit"
    failed_outcomes = frozenset({"unknown", "error"})

    def interval(self, run: Pass, item: str) -> timedelta:
        return run.settings.config.daemon.audit_every

    def basis(self, settings: Settings) -> str:
        named, other = required_by_connection(settings)
        every = settings.config.daemon.audit_every.total_seconds()
        required = json.dumps(
            {
                "named": {name: sorted(scopes) for name, scopes in named.items()},
                "other": sorted(other),
            },
            sort_keys=True,
        )
        return f"every {every:g}s, jitter {JITTER_FRACTION:g}, required {required}"

    def work_out(self, run: Pass, unset: list[Unset]) -> list[tuple[str, datetime]]:
        every = run.settings.config.daemon.audit_every
        named, other = required_by_connection(run.settings)
        times = []
        for name, audited_at, judged in unset:
            if audited_at is None or judged is None or set(judged) != named.get(name, other):
                when = run.now  # no report for this token, or judged against other scopes
            else:
                when = periodic_due(f"audit:{name}", audited_at, every, run.now)
            times.append((name, when))
        return times

    def cost(self, run: Pass, item: str) -> Cost:
        return Cost(run.store.connections.get(item).fingerprint, AUDIT_CALLS)

    def run_item(self, run: Pass, item: str) -> str:
        return audit_scopes(run.context, run.store, item, run.notify, max_age=None).verdict
