"""The audit log (``audit_log``): append, read a page at a time, prune by age."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from rotator.store.codec import (
    decode_json_object,
    decode_time,
    encode_json,
    encode_time,
)
from rotator.store.database import Clock, Database, Row

PRUNE_BATCH = 500  # rows deleted per transaction, oldest first


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    id: int
    at: datetime
    event: str
    subject: str
    outcome: str
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": encode_time(self.at)}


class History:
    """The append-only audit log; every repository writes its changes here."""

    def __init__(self, db: Database, now: Clock) -> None:
        self._db = db
        self._now = now

    def log(self, event: str, subject: str, outcome: str, **detail: Any) -> None:
        """Append one entry (never a secret in ``detail``).

        Inside a transaction it commits with the rest of it; outside, alone.
        """
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO audit_log (at, event, subject, outcome, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (encode_time(self._now()), event, subject, outcome, encode_json(detail)),
            )

    def page(
        self, *, subject: str | None = None, limit: int = 100, before: int | None = None
    ) -> Iterator[AuditEntry]:
        """The newest ``limit`` entries (older than entry id ``before``), oldest first.

        Rows are read one at a time: memory stays bounded by what the caller keeps.
        The smallest id of a page is the ``before`` of the next (older) one.
        """
        where: list[str] = []
        params: list[object] = []
        if subject is not None:
            where.append("subject = ?")
            params.append(subject)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        query = (
            "SELECT id, at, event, subject, outcome, detail FROM ("  # noqa: S608 (constants only)
            f"SELECT id, at, event, subject, outcome, detail FROM audit_log{clause} "
            "ORDER BY id DESC LIMIT ?) AS page ORDER BY id"
        )
        for row in self._db.execute(query, (*params, max(0, limit))):
            yield _entry(row)

    def prune(self, older_than: datetime) -> int:
        """Delete entries written before ``older_than``; how many went.

        Oldest first, in small batches (each its own transaction, so writers
        are not held up), walking the primary key: nothing to prune costs one
        indexed read, however long the log.
        """
        cutoff = encode_time(older_than)
        removed = 0
        while True:
            with self._db.transaction():
                batch = self._db.execute(
                    "DELETE FROM audit_log WHERE at < ? AND id IN "
                    "(SELECT id FROM audit_log ORDER BY id LIMIT ?)",
                    (cutoff, PRUNE_BATCH),
                ).rowcount
            removed += batch
            if batch < PRUNE_BATCH:
                return removed


def _entry(row: Row) -> AuditEntry:
    where = f"audit_log row {row[0]}"
    return AuditEntry(
        row[0],
        decode_time(row[1], f"{where} (at)"),
        row[2],
        row[3],
        row[4],
        decode_json_object(row[5], f"{where} (detail)"),
    )
