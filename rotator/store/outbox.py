"""The alert outbox (``alert_outbox``): one row per alert and channel until delivered.

The delivery policy (order, retries, leases) is :mod:`rotator.alerts.outbox`'s;
this module only reads and writes the rows. Times are the codec's fixed-width
UTC text, so ``next_attempt_at`` compares correctly in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rotator.store.codec import decode_time, encode_time
from rotator.store.database import Database

_UNFINISHED = "delivered_at IS NULL AND gave_up_at IS NULL"


@dataclass(frozen=True)
class OutboxRow:
    """An alert waiting for one channel."""

    id: int
    channel: str
    event: str
    subject: str
    payload: str
    attempts: int
    next_attempt_at: datetime
    next_attempt_text: str  # exactly as stored: a claim compares it


class Outbox:
    """Rows of the alert outbox."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def enqueue(
        self, channels: Sequence[str], event: str, subject: str, payload: str, now: datetime
    ) -> list[int]:
        """One row per channel, atomically (with the caller's transaction, if any)."""
        moment = encode_time(now)
        ids = []
        with self._db.transaction():
            for channel in channels:
                # Read to the end: a RETURNING statement is finished only then.
                [(row_id,)] = list(
                    self._db.execute(
                        "INSERT INTO alert_outbox (channel, event, subject, payload, "
                        "created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                        (channel, event, subject, payload, moment, moment),
                    )
                )
                ids.append(int(row_id))
        return ids

    def prune(self, before: datetime) -> int:
        """Delete rows finished before ``before``, and unfinished ones created before it."""
        with self._db.transaction():
            return self._db.execute(
                "DELETE FROM alert_outbox WHERE coalesce(delivered_at, gave_up_at, created_at) < ?",
                (encode_time(before),),
            ).rowcount

    def pending_counts(self) -> dict[str, int]:
        """Unfinished rows per channel name."""
        rows = self._db.execute(
            f"SELECT channel, count(*) FROM alert_outbox WHERE {_UNFINISHED} GROUP BY channel"  # noqa: S608
        )
        return {str(name): int(count) for name, count in rows}

    def next_due(self, channels: Sequence[str]) -> datetime | None:
        """When the earliest unfinished row for one of ``channels`` is due."""
        if not channels:
            return None
        marks = ", ".join("?" * len(channels))
        row = self._db.execute(
            "SELECT min(next_attempt_at) FROM alert_outbox "  # noqa: S608 (placeholders only)
            f"WHERE {_UNFINISHED} AND channel IN ({marks})",
            channels,
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return decode_time(row[0], "alert_outbox (next_attempt_at)")

    def unfinished(self) -> list[OutboxRow]:
        """Every row not yet delivered nor given up, oldest first."""
        return [
            OutboxRow(
                id=row[0],
                channel=row[1],
                event=row[2],
                subject=row[3],
                payload=row[4],
                attempts=row[5],
                next_attempt_at=decode_time(row[6], f"alert_outbox row {row[0]} (next_attempt_at)"),
                next_attempt_text=row[6],
            )
            for row in self._db.execute(
                "SELECT id, channel, event, subject, payload, attempts, next_attempt_at "  # noqa: S608
                f"FROM alert_outbox WHERE {_UNFINISHED} ORDER BY id"
            )
        ]

    def claim(self, row: OutboxRow, attempt: int, lease_until: datetime) -> bool:
        """Count an attempt and take the row, unless someone changed it since it was read."""
        with self._db.transaction():
            changed = self._db.execute(
                "UPDATE alert_outbox SET attempts = ?, next_attempt_at = ? "  # noqa: S608
                f"WHERE id = ? AND attempts = ? AND next_attempt_at = ? AND {_UNFINISHED}",
                (attempt, encode_time(lease_until), row.id, row.attempts, row.next_attempt_text),
            ).rowcount
        return changed == 1

    def mark_delivered(self, row_id: int, now: datetime) -> None:
        with self._db.transaction():
            self._db.execute(
                "UPDATE alert_outbox SET delivered_at = ? WHERE id = ?", (encode_time(now), row_id)
            )

    def retry_later(self, row_id: int, error: str, next_at: datetime) -> None:
        with self._db.transaction():
            self._db.execute(
                "UPDATE alert_outbox SET last_error = ?, next_attempt_at = ? WHERE id = ?",
                (error, encode_time(next_at), row_id),
            )

    def give_up(self, row_id: int, error: str, now: datetime) -> None:
        with self._db.transaction():
            self._db.execute(
                "UPDATE alert_outbox SET last_error = ?, gave_up_at = ? WHERE id = ?",
                (error, encode_time(now), row_id),
            )
