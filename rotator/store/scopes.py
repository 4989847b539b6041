"""Scope reports (``scope_reports``): each connection's latest audit, for one token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rotator.errors import StoreCorrupt
from rotator.store.codec import decode_json_object, decode_time, encode_json, encode_time
from rotator.store.connections import Connections
from rotator.store.database import Database
from rotator.store.history import History


@dataclass(frozen=True)
class StoredScopeReport:
    """A connection's latest scope audit, for the token it was made for."""

    token_hash: str
    audited_at: datetime
    report: dict[str, Any]


class ScopeReports:
    """One report per connection, replaced by each audit."""

    def __init__(self, db: Database, history: History, connections: Connections) -> None:
        self._db = db
        self._history = history
        self._connections = connections

    def save(
        self,
        name: str,
        token_hash: str,
        audited_at: datetime,
        report: Mapping[str, Any],
        *,
        outcome: str,
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        """Keep *report* as the connection's latest scope audit and log it.

        Nothing is kept (False) when the connection's token is no longer
        *token_hash*: the token changed while the audit ran, and the report
        describes the old one.
        """
        current = self._connections.get(name)
        with self._db.transaction():
            row = self._db.execute(
                "SELECT token_hash FROM connections WHERE id = ?", (current.id,)
            ).fetchone()
            if row is None or row[0] != token_hash:
                return False
            self._db.execute(
                "INSERT INTO scope_reports (connection_id, token_hash, audited_at, report) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (connection_id) DO UPDATE SET "
                "token_hash = excluded.token_hash, audited_at = excluded.audited_at, "
                "report = excluded.report",
                (current.id, token_hash, encode_time(audited_at), encode_json(report)),
            )
            # The next audit is worked out again from this one (rotator.store.due).
            self._db.execute(
                "UPDATE connections SET audit_due_at = NULL WHERE id = ?", (current.id,)
            )
            self._history.log(
                "connection_audited",
                name,
                outcome,
                **{"token_fingerprint": token_hash[:12], **(detail or {})},
            )
        return True

    def load(self, name: str) -> StoredScopeReport | None:
        """The connection's latest scope report if it was made for its current token.

        A report about an earlier token is never returned, so a new token is
        always audited afresh. None too when the stored report is unreadable:
        the next audit replaces it.
        """
        current = self._connections.get(name)
        row = self._db.execute(
            "SELECT token_hash, audited_at, report FROM scope_reports "
            "WHERE connection_id = ? AND token_hash = ?",
            (current.id, current.token_hash),
        ).fetchone()
        if row is None:
            return None
        where = f"scope_reports row for {name!r}"
        try:
            report = decode_json_object(row[2], f"{where} (report)")
        except StoreCorrupt:
            return None
        return StoredScopeReport(row[0], decode_time(row[1], f"{where} (audited_at)"), report)
