"""De-duplication: decide whether an alert is news, and queue it if so.

A condition (``<event>:<subject>``, e.g. ``token_invalid:prod``) is raised
every cycle while it holds, but operators hear about it only when it is new,
when its details change (the hash of its severity and facts), or when
``reminder`` has passed since they last heard. When it clears they get one
"resolved" notice. The decision and the queued rows commit in one store
transaction, so a crash can neither lose the alert nor, in the normal path,
queue it twice.

Facts should be stable from one cycle to the next (a fingerprint, a scope
list, a day count — not "expires in 3h12m"), or every cycle looks like a
change; put moving numbers in the text, which is not hashed.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from rotator.alerts.base import EVENTS, Alert, Channel
from rotator.alerts.outbox import (
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_DELAY,
    DeliveryReport,
    Outbox,
)
from rotator.errors import AlertError
from rotator.store import Condition, Store

Clock = Callable[[], datetime]
DEFAULT_KEEP = timedelta(days=30)


def detail_hash(alert: Alert) -> str:
    """SHA-256 of what makes a condition's details: its severity and facts (any order)."""
    canonical = json.dumps(
        {"severity": alert.severity, "facts": sorted(alert.facts.items())}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class TestResult:
    """How one channel took ``rotator alerts test``."""

    __test__ = False  # not a pytest test class, despite the name

    channel: str
    type: str
    target: str
    ok: bool
    error: str | None
    pending: int  # alerts still queued for this channel

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.channel,
            "type": self.type,
            "target": self.target,
            "status": "ok" if self.ok else "failed",
            "error": self.error,
            "pending": self.pending,
        }


class Dispatcher:
    """Raise and clear conditions, send one-shot notices, and flush the outbox."""

    def __init__(
        self,
        store: Store,
        channels: Sequence[Channel],
        http: httpx.Client,
        *,
        now: Clock,
        reminder: timedelta,
        outbox: Outbox | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: timedelta = DEFAULT_BASE_DELAY,
        max_delay: timedelta = DEFAULT_MAX_DELAY,
        keep: timedelta = DEFAULT_KEEP,
    ) -> None:
        self.store = store
        self.channels = list(channels)
        self.http = http
        self.now = now
        self.reminder = reminder
        self.outbox = outbox or Outbox(store)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.keep = keep

    @property
    def _names(self) -> list[str]:
        return [channel.name for channel in self.channels]

    def raise_condition(self, alert: Alert) -> bool:
        """Queue ``alert`` if it is news (new, changed, or due a reminder); True if queued."""
        if alert.resolved:
            raise ValueError("raise_condition takes an open alert; use clear_condition")
        now = self.now()
        digest = detail_hash(alert)
        with self.store.transaction():
            current = self.store.conditions.get(alert.condition)
            if (
                current is not None
                and current.detail_hash == digest
                and now - current.last_sent_at < self.reminder
            ):
                return False
            self.store.conditions.record_sent(
                alert.condition, alert.event, alert.subject, digest, now
            )
            self.outbox.enqueue_for(alert, self._names, now=now)
        return True

    def clear_condition(
        self, event: str, subject: str, resolved_alert: Alert | None = None
    ) -> bool:
        """If ``<event>:<subject>`` was open, close it and queue the resolved notice.

        Without ``resolved_alert`` a plain notice is built from the event's
        summary. Returns False (and queues nothing) when nothing was open.
        """
        now = self.now()
        if resolved_alert is None:
            resolved_alert = Alert.of(
                event,
                subject,
                title=f"{EVENTS[event].summary}: {subject}" if event in EVENTS else subject,
                text=f"The condition {event} on {subject} no longer holds.",
                occurred_at=now,
                resolved=True,
            )
        if not resolved_alert.resolved or resolved_alert.condition != f"{event}:{subject}":
            raise ValueError(f"resolved_alert must be the resolved notice of {event}:{subject}")
        with self.store.transaction():
            if not self.store.conditions.close(resolved_alert.condition):
                return False
            self.outbox.enqueue_for(resolved_alert, self._names, now=now)
        return True

    def notify(self, alert: Alert) -> None:
        """Queue a one-shot notice (a rotation result): no de-duplication."""
        self.outbox.enqueue_for(alert, self._names, now=self.now())

    def flush(self) -> DeliveryReport:
        """Deliver what is due, then drop outbox rows older than ``keep``."""
        now = self.now()
        report = self.outbox.deliver_due(
            self.channels,
            self.http,
            now=now,
            max_attempts=self.max_attempts,
            base_delay=self.base_delay,
            max_delay=self.max_delay,
        )
        self.outbox.prune(now - self.keep)
        return report

    def open_conditions(self) -> list[Condition]:
        return self.store.conditions.all_open()

    def send_test(self) -> list[TestResult]:
        """Send a ``test`` alert straight to every channel and say how each took it.

        Not through the outbox: the operator is waiting for an answer now, a
        test queued behind a backlog would say nothing about the channel,
        and a failed test retried for an hour would only confuse. Each
        outcome goes to the audit log.
        """
        pending = self.outbox.pending_counts()
        host = socket.gethostname()
        results = []
        for channel in self.channels:
            alert = Alert.of(
                "test",
                channel.name,
                title="Test alert from rotator",
                text="If you can read this, rotator can reach this channel. No action needed.",
                occurred_at=self.now(),
                facts={"channel": channel.name, "channel_type": channel.type, "sent_by": host},
            )
            error: str | None = None
            try:
                channel.send(alert, self.http)
            except AlertError as exc:
                error = channel.scrub(str(exc))
            outcome = "ok" if error is None else "failed"
            self.store.history.log("alert_test", channel.name, outcome, error=error)
            results.append(
                TestResult(
                    channel.name,
                    channel.type,
                    channel.target,
                    error is None,
                    error,
                    pending.get(channel.name, 0),
                )
            )
        return results
