"""Token validation: each connection every ``daemon.validate_every``, spread by jitter.

Due: ``last_validated_at + validate_every - jitter(name)``; a connection never
validated is due at once. The time is worked out when a validation is recorded
and kept in the store (:mod:`rotator.engine.jobs.kept`). Each due connection is
validated on a worker through :func:`rotator.services.validate.validate_tokens`
(the entry point of ``rotator connection validate``), and what was found raises
or clears alerts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rotator.engine.jobs.base import Pass
from rotator.engine.jobs.concurrent import Cost
from rotator.engine.jobs.due import JITTER_FRACTION, periodic_due
from rotator.engine.jobs.kept import KeptDueJob
from rotator.services.validate import validate_tokens
from rotator.settings import Settings
from rotator.store.due import Unset

VALIDATE_CALLS = 1
"""``GET /v2/account``."""


class ValidateJob(KeptDueJob):
    """Check each connection's token against ``GET /v2/account``."""

    name = "validate"
    kind = "validate"
    # "unknown": DigitalOcean could not be asked (network, 5xx); "error": not even tried.
    failed_outcomes = frozenset({"unknown", "error"})

    def interval(self, run: Pass, item: str) -> timedelta:
        return run.settings.config.daemon.validate_every

    def basis(self, settings: Settings) -> str:
        every = settings.config.daemon.validate_every.total_seconds()
        return f"every {every:g}s, jitter {JITTER_FRACTION:g}"

    def work_out(self, run: Pass, unset: list[Unset]) -> list[tuple[str, datetime]]:
        every = run.settings.config.daemon.validate_every
        return [
            (name, periodic_due(f"validate:{name}", last, every, run.now))
            for name, last, _ in unset
        ]

    def cost(self, run: Pass, item: str) -> Cost:
        return Cost(run.store.connections.get(item).fingerprint, VALIDATE_CALLS)

    def run_item(self, run: Pass, item: str) -> str:
        connection = run.store.connections.get(item)
        outcomes = validate_tokens(run.context, run.store, [connection], run.notify)
        return outcomes[0].status if outcomes else "error"
