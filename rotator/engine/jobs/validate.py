"""Token validation: each connection every ``daemon.validate_every``, spread by jitter.

Due: ``last_validated_at + validate_every - jitter(name)``; a connection never
validated is due at once. The due connections are validated together through
:func:`rotator.services.validate.validate_tokens` (the entry point of
``rotator connection validate``), and what was found raises or clears alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from rotator.engine.jobs.base import Job, Pass, Summary
from rotator.engine.jobs.due import periodic_due
from rotator.services.validate import validate_tokens


class ValidateJob(Job):
    """Check each connection's token against ``GET /v2/account``."""

    name = "validate"
    # "unknown": DigitalOcean could not be asked (network, 5xx); "error": not even tried.
    failed_outcomes = frozenset({"unknown", "error"})

    def interval(self, run: Pass, item: str) -> timedelta:
        return run.settings.config.daemon.validate_every

    def due_items(self, run: Pass) -> dict[str, datetime]:
        every = run.settings.config.daemon.validate_every
        return {
            c.name: self.backoff.due(
                c.name, periodic_due(f"validate:{c.name}", c.last_validated_at, every, run.now)
            )
            for c in run.store.connections.all()
        }

    def run_items(self, run: Pass, items: Iterable[str], summary: Summary) -> None:
        with self.claim_all(run, sorted(set(items)), summary) as mine:
            if not mine:
                return
            connections = [c for c in run.store.connections.all() if c.name in mine]
            for outcome in validate_tokens(run.context, run.store, connections, run.notify):
                self.settle(run, outcome.connection.name, summary, outcome.status)
