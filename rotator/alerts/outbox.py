"""The persisted alert outbox: the delivery policy over the store's outbox rows.

Every alert is written to ``alert_outbox`` (one row per channel) before any
attempt to send it, so a crash or a receiver that is down loses nothing.
:meth:`Outbox.deliver_due` then sends what is due:

- **Order.** Each channel gets its alerts in the order they were raised: a
  channel's oldest unfinished row goes first, and the rows behind it wait
  while it backs off (a "resolved" never overtakes its alert).
- **Retries.** A failed attempt is retried after ``base_delay * 2**(n-1)``,
  capped at ``max_delay``, with jitter (a random 50-100 % of that) so many
  daemons do not hammer a receiver in step. After ``max_attempts`` the row is
  given up: a warning in the log and an ``alert_gave_up`` entry in the audit
  log, never an exception. At most one failing request per channel per run.
- **One sender.** Several processes may write to the store (the daemon and
  a CLI command). Before sending, a run claims the row: in one transaction
  it counts the attempt and pushes ``next_attempt_at`` a lease ahead, only
  if nobody changed the row since it was read. Whoever loses the race
  leaves the row (and the channel's later rows) alone.
- **At least once.** A row is marked delivered after the receiver said 2xx;
  a crash in between sends it again once the lease ends, with the same
  alert ``id`` so a receiver can drop the repeat.
- **Orphans.** Rows for a channel no longer configured stay pending,
  untouched: renaming a channel back (or fixing a typo) delivers them. One
  warning per channel says so; :meth:`Outbox.prune` clears them with age.

Rows hold the alert's JSON (names and fingerprints only) and, on failure,
the channel's scrubbed error text — never a URL's secret part.
"""

from __future__ import annotations

import json
import logging
import random as random_module
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import httpx

from rotator.alerts.base import Alert, Channel
from rotator.errors import AlertError
from rotator.logs import redact
from rotator.store import OutboxRow, Store

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 500
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BASE_DELAY = timedelta(seconds=30)
DEFAULT_MAX_DELAY = timedelta(hours=1)
# Longer than any send may take (see base.SEND_TIMEOUT), so a live claim is never stolen.
CLAIM_LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one outbox row in one run."""

    channel: str
    row_id: int
    event: str
    subject: str
    status: Literal["sent", "failed", "gave_up"]
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass
class DeliveryReport:
    """One run of :meth:`Outbox.deliver_due`, summed up."""

    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    pending: int = 0  # still waiting for a configured channel (failed ones included)
    orphaned: int = 0  # waiting for a channel that is not configured
    results: list[DeliveryResult] = field(default_factory=list)


class Outbox:
    """Alert rows waiting for (or done with) delivery, one per channel."""

    def __init__(self, store: Store, *, random: Callable[[], float] = random_module.random) -> None:
        self.store = store
        self._random = random
        self._warned_orphans: set[str] = set()

    # -- writing -----------------------------------------------------------

    def enqueue(
        self, alert: Alert, channels: Sequence[Channel], *, now: datetime | None = None
    ) -> list[int]:
        """Queue ``alert`` for every channel, atomically; returns the row ids."""
        return self.enqueue_for(alert, [channel.name for channel in channels], now=now)

    def enqueue_for(
        self, alert: Alert, channel_names: Sequence[str], *, now: datetime | None = None
    ) -> list[int]:
        """Queue ``alert`` for the named channels (with the caller's transaction, if any)."""
        payload = json.dumps(alert.to_json())
        moment = now or self.store.now()
        return self.store.outbox.enqueue(channel_names, alert.event, alert.subject, payload, moment)

    def prune(self, before: datetime) -> int:
        """Delete rows finished before ``before``, and unfinished ones created before it.

        An alert older than the retention is no longer news, whatever its state.
        """
        return self.store.outbox.prune(before)

    # -- reading -----------------------------------------------------------

    def pending_counts(self) -> dict[str, int]:
        """Unfinished rows per channel name."""
        return self.store.outbox.pending_counts()

    def _unfinished(self) -> dict[str, list[OutboxRow]]:
        by_channel: dict[str, list[OutboxRow]] = {}
        for item in self.store.outbox.unfinished():
            by_channel.setdefault(item.channel, []).append(item)
        return by_channel

    # -- delivering --------------------------------------------------------

    def deliver_due(
        self,
        channels: Sequence[Channel],
        http: httpx.Client,
        *,
        now: datetime,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: timedelta = DEFAULT_BASE_DELAY,
        max_delay: timedelta = DEFAULT_MAX_DELAY,
    ) -> DeliveryReport:
        """Send every due row, channel by channel, in order; never raises for a channel."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        by_name: Mapping[str, Channel] = {channel.name: channel for channel in channels}
        report = DeliveryReport()
        for name, rows in self._unfinished().items():
            channel = by_name.get(name)
            if channel is None:
                report.orphaned += len(rows)
                if name not in self._warned_orphans:
                    self._warned_orphans.add(name)
                    logger.warning(
                        "%d alert(s) wait for channel %r, which is not configured; they are "
                        "kept and sent if a channel of that name returns",
                        len(rows),
                        name,
                    )
                continue
            for index, row in enumerate(rows):
                if row.next_attempt_at > now:
                    report.pending += len(rows) - index
                    break
                result = self._attempt(channel, row, http, now, max_attempts, base_delay, max_delay)
                if result is None:  # another process is sending it right now
                    report.pending += len(rows) - index
                    break
                report.results.append(result)
                if result.status == "sent":
                    report.sent += 1
                    continue
                if result.status == "gave_up":
                    report.gave_up += 1
                    report.pending += len(rows) - index - 1
                else:
                    report.failed += 1
                    report.pending += len(rows) - index
                break  # the channel just failed: its later rows wait for the next run
        return report

    def _attempt(
        self,
        channel: Channel,
        row: OutboxRow,
        http: httpx.Client,
        now: datetime,
        max_attempts: int,
        base_delay: timedelta,
        max_delay: timedelta,
    ) -> DeliveryResult | None:
        attempt = row.attempts + 1
        if not self._claim(row, attempt, now + CLAIM_LEASE):
            return None
        try:
            alert = Alert.from_json(json.loads(row.payload))
        except (ValueError, KeyError, TypeError) as exc:
            # Retrying cannot fix a row this rotator cannot read.
            reason = f"unreadable payload ({type(exc).__name__})"
            return self._give_up(channel, row, attempt, reason, now)
        try:
            channel.send(alert, http)
        except AlertError as exc:
            error = channel.scrub(str(exc))
        except Exception as exc:  # a channel's bug must not stop the other channels
            error = channel.scrub(
                f"alert channel {channel.name}: unexpected {type(exc).__name__}: {exc}"
            )
            logger.debug("alert channel %s failed unexpectedly", channel.name, exc_info=True)
        else:
            self.store.outbox.mark_delivered(row.id, now)
            logger.info(
                "alert %s:%s delivered to %s (attempt %d)",
                row.event,
                row.subject,
                channel.name,
                attempt,
            )
            return DeliveryResult(channel.name, row.id, row.event, row.subject, "sent")
        error = redact(error)[:MAX_ERROR_LENGTH]
        if attempt >= max_attempts:
            return self._give_up(channel, row, attempt, error, now)
        delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * (0.5 + 0.5 * self._random())
        next_at = now + delay
        self.store.outbox.retry_later(row.id, error, next_at)
        logger.warning(
            "alert %s:%s not delivered (attempt %d of %d), next try at %s: %s",
            row.event,
            row.subject,
            attempt,
            max_attempts,
            next_at.strftime("%Y-%m-%d %H:%M:%SZ"),
            error,
        )
        return DeliveryResult(
            channel.name, row.id, row.event, row.subject, "failed", error, next_at
        )

    def _claim(self, row: OutboxRow, attempt: int, lease_until: datetime) -> bool:
        """Count this attempt and take the row, unless someone changed it since we read it.

        The attempt is counted before sending, so a send that crashes the
        process every time still reaches ``max_attempts``.
        """
        return self.store.outbox.claim(row, attempt, lease_until)

    def _give_up(
        self, channel: Channel, row: OutboxRow, attempt: int, error: str, now: datetime
    ) -> DeliveryResult:
        self.store.outbox.give_up(row.id, error, now)
        logger.warning(
            "alert %s:%s given up for channel %s after %d attempt(s): %s",
            row.event,
            row.subject,
            channel.name,
            attempt,
            error,
        )
        self.store.history.log(
            "alert_gave_up",
            row.subject,
            "gave_up",
            channel=channel.name,
            alert_event=row.event,
            attempts=attempt,
            error=error,
        )
        return DeliveryResult(channel.name, row.id, row.event, row.subject, "gave_up", error)
