"""The persisted alert outbox and the open-condition table: all of alerts' SQL.

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
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx

from rotator.alerts.base import Alert, Channel
from rotator.errors import AlertError
from rotator.logs import redact
from rotator.store import Store

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 500
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BASE_DELAY = timedelta(seconds=30)
DEFAULT_MAX_DELAY = timedelta(hours=1)
# Longer than any send may take (see base.SEND_TIMEOUT), so a live claim is never stolen.
CLAIM_LEASE = timedelta(minutes=2)


def _iso(moment: datetime) -> str:
    """Fixed-width UTC text, so SQL compares times as strings correctly."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime reached the alert outbox")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


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


@dataclass(frozen=True)
class _Row:
    id: int
    channel: str
    event: str
    subject: str
    payload: str
    attempts: int
    next_attempt_at: datetime
    next_attempt_text: str  # exactly as stored: the claim compares it


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
        with self.store.transaction() as db:
            return self.enqueue_in(db, alert, [channel.name for channel in channels], now=now)

    def enqueue_in(
        self,
        db: sqlite3.Connection,
        alert: Alert,
        channel_names: Sequence[str],
        *,
        now: datetime | None = None,
    ) -> list[int]:
        """Queue ``alert`` inside the caller's transaction (so it commits with it)."""
        moment = _iso(now or self.store.now())
        payload = json.dumps(alert.to_json())
        ids = []
        for name in channel_names:
            cursor = db.execute(
                "INSERT INTO alert_outbox (channel, event, subject, payload, created_at, "
                "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, alert.event, alert.subject, payload, moment, moment),
            )
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def prune(self, before: datetime) -> int:
        """Delete rows finished before ``before``, and unfinished ones created before it.

        An alert older than the retention is no longer news, whatever its state.
        """
        with self.store.transaction() as db:
            cursor = db.execute(
                "DELETE FROM alert_outbox WHERE coalesce(delivered_at, gave_up_at, created_at) < ?",
                (_iso(before),),
            )
            return cursor.rowcount

    # -- reading -----------------------------------------------------------

    def pending_counts(self) -> dict[str, int]:
        """Unfinished rows per channel name."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT channel, count(*) FROM alert_outbox "
                "WHERE delivered_at IS NULL AND gave_up_at IS NULL GROUP BY channel"
            ).fetchall()
        return {str(name): int(count) for name, count in rows}

    def _unfinished(self) -> dict[str, list[_Row]]:
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT id, channel, event, subject, payload, attempts, next_attempt_at "
                "FROM alert_outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL ORDER BY id"
            ).fetchall()
        by_channel: dict[str, list[_Row]] = {}
        for row in rows:
            item = _Row(
                id=row[0],
                channel=row[1],
                event=row[2],
                subject=row[3],
                payload=row[4],
                attempts=row[5],
                next_attempt_at=datetime.fromisoformat(row[6]),
                next_attempt_text=row[6],
            )
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
        row: _Row,
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
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE alert_outbox SET delivered_at = ? WHERE id = ?", (_iso(now), row.id)
                )
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
        with self.store.transaction() as db:
            db.execute(
                "UPDATE alert_outbox SET last_error = ?, next_attempt_at = ? WHERE id = ?",
                (error, _iso(next_at), row.id),
            )
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

    def _claim(self, row: _Row, attempt: int, lease_until: datetime) -> bool:
        """Count this attempt and take the row, unless someone changed it since we read it.

        The attempt is counted before sending, so a send that crashes the
        process every time still reaches ``max_attempts``.
        """
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE alert_outbox SET attempts = ?, next_attempt_at = ? "
                "WHERE id = ? AND attempts = ? AND next_attempt_at = ? "
                "AND delivered_at IS NULL AND gave_up_at IS NULL",
                (attempt, _iso(lease_until), row.id, row.attempts, row.next_attempt_text),
            )
            return cursor.rowcount == 1

    def _give_up(
        self, channel: Channel, row: _Row, attempt: int, error: str, now: datetime
    ) -> DeliveryResult:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE alert_outbox SET last_error = ?, gave_up_at = ? WHERE id = ?",
                (error, _iso(now), row.id),
            )
        logger.warning(
            "alert %s:%s given up for channel %s after %d attempt(s): %s",
            row.event,
            row.subject,
            channel.name,
            attempt,
            error,
        )
        self.store.log(
            "alert_gave_up",
            row.subject,
            "gave_up",
            channel=channel.name,
            alert_event=row.event,
            attempts=attempt,
            error=error,
        )
        return DeliveryResult(channel.name, row.id, row.event, row.subject, "gave_up", error)


# -- open conditions (the de-duplication state) -------------------------------


@dataclass(frozen=True)
class Condition:
    """An alert condition that is open: raised and not yet cleared."""

    condition: str
    event: str
    subject: str
    detail_hash: str
    opened_at: datetime
    last_sent_at: datetime


_CONDITION_COLUMNS = "condition, event, subject, detail_hash, opened_at, last_sent_at"


def _condition(row: tuple[str, str, str, str, str, str]) -> Condition:
    return Condition(
        *row[:4],
        opened_at=datetime.fromisoformat(row[4]),
        last_sent_at=datetime.fromisoformat(row[5]),
    )


def get_condition(db: sqlite3.Connection, key: str) -> Condition | None:
    row = db.execute(
        f"SELECT {_CONDITION_COLUMNS} FROM alert_conditions WHERE condition = ?",  # noqa: S608
        (key,),
    ).fetchone()
    return None if row is None else _condition(row)


def record_sent(db: sqlite3.Connection, alert: Alert, detail_hash: str, now: datetime) -> None:
    """Open the condition, or note that it was (re)sent with these details."""
    db.execute(
        "INSERT INTO alert_conditions (condition, event, subject, detail_hash, opened_at, "
        "last_sent_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (condition) DO UPDATE SET "
        "detail_hash = excluded.detail_hash, last_sent_at = excluded.last_sent_at",
        (alert.condition, alert.event, alert.subject, detail_hash, _iso(now), _iso(now)),
    )


def close_condition(db: sqlite3.Connection, key: str) -> bool:
    """Forget an open condition; True when one was open."""
    return db.execute("DELETE FROM alert_conditions WHERE condition = ?", (key,)).rowcount > 0


def open_conditions(store: Store) -> list[Condition]:
    with store.transaction() as db:
        rows = db.execute(
            f"SELECT {_CONDITION_COLUMNS} FROM alert_conditions ORDER BY opened_at, condition"  # noqa: S608
        ).fetchall()
    return [_condition(row) for row in rows]
