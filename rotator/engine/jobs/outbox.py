"""Alert delivery: flush the persisted outbox whenever a queued alert is due.

Due: the earliest ``next_attempt_at`` among unfinished rows for the
configured channels (rows for a channel no longer configured wait for it and
never make the job due). Delivery is the dispatcher's: retries with backoff,
a failing channel never raising. Nothing is due without alert channels.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from rotator.alerts import channel_names
from rotator.engine.jobs.base import Job, Pass, Summary
from rotator.engine.jobs.due import MAX_RETRY

_OUTBOX = "outbox"


class OutboxJob(Job):
    """Deliver queued alerts through every configured channel."""

    name = "outbox"
    failed_outcomes = frozenset({"failed", "gave_up"})

    def interval(self, run: Pass, item: str) -> timedelta:
        return MAX_RETRY

    def due_items(self, run: Pass) -> dict[str, datetime]:
        due = run.store.outbox.next_due(channel_names(run.settings.config.alerts))
        return {} if due is None else {_OUTBOX: due}

    def run_item(self, run: Pass, item: str) -> str:
        raise NotImplementedError  # run_items does the whole outbox at once

    def run_items(self, run: Pass, items: Iterable[str], summary: Summary) -> None:
        alerting = run.alerting
        if alerting is None:
            return
        # One replica at a time delivers the outbox (its lease), so no alert goes out twice.
        with self.claim_all(run, items, summary) as mine:
            if not mine:
                return
            report = alerting.dispatcher.flush()
        for outcome, count in (
            ("sent", report.sent),
            ("failed", report.failed),
            ("gave_up", report.gave_up),
        ):
            for _ in range(count):
                summary.count(outcome, failed=outcome in self.failed_outcomes)
