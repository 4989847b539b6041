"""Open alert conditions (``alert_conditions``): the de-duplication state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rotator.store.codec import decode_time, encode_time
from rotator.store.database import Database, Row

_COLUMNS = "condition, event, subject, detail_hash, opened_at, last_sent_at"


@dataclass(frozen=True)
class Condition:
    """An alert condition that is open: raised and not yet cleared."""

    condition: str
    event: str
    subject: str
    detail_hash: str
    opened_at: datetime
    last_sent_at: datetime


def _condition(row: Row) -> Condition:
    where = f"alert_conditions row {row[0]!r}"
    return Condition(
        condition=row[0],
        event=row[1],
        subject=row[2],
        detail_hash=row[3],
        opened_at=decode_time(row[4], f"{where} (opened_at)"),
        last_sent_at=decode_time(row[5], f"{where} (last_sent_at)"),
    )


class Conditions:
    """Raised conditions, until they clear."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> Condition | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM alert_conditions WHERE condition = ?",  # noqa: S608
            (key,),
        ).fetchone()
        return None if row is None else _condition(row)

    def record_sent(
        self, key: str, event: str, subject: str, detail_hash: str, now: datetime
    ) -> None:
        """Open the condition, or note that it was (re)sent with these details."""
        moment = encode_time(now)
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO alert_conditions (condition, event, subject, detail_hash, "
                "opened_at, last_sent_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (condition) "
                "DO UPDATE SET detail_hash = excluded.detail_hash, "
                "last_sent_at = excluded.last_sent_at",
                (key, event, subject, detail_hash, moment, moment),
            )

    def close(self, key: str) -> bool:
        """Forget an open condition; True when one was open."""
        with self._db.transaction():
            query = "DELETE FROM alert_conditions WHERE condition = ?"
            return self._db.execute(query, (key,)).rowcount > 0

    def all_open(self) -> list[Condition]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM alert_conditions ORDER BY opened_at, condition"  # noqa: S608
        )
        return [_condition(row) for row in rows]
