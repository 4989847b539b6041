"""Token validation: each connection every ``daemon.validate_every``, spread by jitter.

Due: ``last_validated_at + validate_every - jitter(name)``; a connection never
validated is due at once. Each due connection is validated on a worker through
:func:`rotator.services.validate.validate_tokens` (the entry point of
``rotator connection validate``), and what was found raises or clears alerts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rotator.engine.jobs.base import Pass
from rotator.engine.jobs.concurrent import ConcurrentJob, Cost
from rotator.engine.jobs.due import periodic_due
from rotator.services.validate import validate_tokens

VALIDATE_CALLS = 1
"""``GET /v2/account``."""


class ValidateJob(ConcurrentJob):
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

    def cost(self, run: Pass, item: str) -> Cost:
        return Cost(run.store.connections.get(item).fingerprint, VALIDATE_CALLS)

    def run_item(self, run: Pass, item: str) -> str:
        connection = run.store.connections.get(item)
        outcomes = validate_tokens(run.context, run.store, [connection], run.notify)
        return outcomes[0].status if outcomes else "error"
