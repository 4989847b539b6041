"""Scope audit: each connection every ``daemon.audit_every``, spread by jitter.

Due: the stored scope report's ``audited_at + audit_every - jitter(name)``.
A connection is due at once when it has no report for its current token, or
its report was judged against other required scopes than the config now
gives (a policy was added or changed). The audit itself is
:func:`rotator.audit.audit`, never reusing a cached report: the job runs it
only when the cached one is due for renewal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rotator.audit import TokenPolicy, audit
from rotator.digitalocean.scopes import required_scopes
from rotator.jobs.base import Job, Pass
from rotator.jobs.due import periodic_due


class AuditJob(Job):
    """Compare what each token can do with what its policies need."""

    name = "audit"
    failed_outcomes = frozenset({"unknown", "error"})

    def interval(self, run: Pass, item: str) -> timedelta:
        return run.settings.config.daemon.audit_every

    def _required(self, run: Pass, name: str) -> frozenset[str]:
        settings = run.settings
        return required_scopes(
            name, settings.config.policies, settings.connection_config(name).extra_scopes
        )

    def due_items(self, run: Pass) -> dict[str, datetime]:
        every = run.settings.config.daemon.audit_every
        due = {}
        for connection in run.store.connections.all():
            name = connection.name
            stored = run.store.scopes.load(name)
            if stored is None or set(stored.report.get("required", ())) != self._required(
                run, name
            ):
                when = run.now
            else:
                when = periodic_due(f"audit:{name}", stored.audited_at, every, run.now)
            due[name] = self.backoff.due(name, when)
        return due

    def run_item(self, run: Pass, item: str) -> str:
        daemon = run.settings.config.daemon
        report = audit(
            run.store,
            item,
            run.runtime.clients,
            required=self._required(run, item),
            policy=TokenPolicy(
                max_token_age=daemon.max_token_age, expiry_warning=daemon.expiry_warning
            ),
            max_age=None,
            now=run.runtime.context.now,
        )
        if run.alerting is not None:
            run.alerting.scopes_audited(report)
        return report.verdict
