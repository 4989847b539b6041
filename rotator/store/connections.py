"""Connection records (``connections``): DigitalOcean API tokens, sealed at rest.

Tokens are sealed with the keyring (:mod:`rotator.crypto`) under the
identity ``connection/<id>/token``, and the token's SHA-256 is checked after
every open, so a swapped or altered record is refused rather than used.
Every change is written to the audit log in the same transaction. A change
that moves when the daemon next validates or audits a connection sets that
due time back to NULL (:mod:`rotator.store.due`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from rotator.crypto import token_hash
from rotator.errors import ConnectionExists, ConnectionNotFound, RecordTampered
from rotator.secret import Secret
from rotator.store.codec import (
    decode_optional_time,
    decode_time,
    encode_optional_time,
    encode_time,
)
from rotator.store.database import Conflict, Row
from rotator.store.keycheck import hold_key_check
from rotator.store.sealing import SealingRepository


@dataclass(frozen=True)
class Connection:
    """A registered DigitalOcean API token and what rotator knows of it."""

    id: str
    name: str
    description: str
    token_hash: str
    token_kind: str
    version: int
    token_set_at: datetime
    status: str
    status_reason: str
    account_email: str | None
    account_uuid: str | None
    account_status: str | None
    token_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_validated_at: datetime | None

    @property
    def fingerprint(self) -> str:
        return self.token_hash[:12]

    @property
    def identity(self) -> str:
        return f"connection/{self.id}/token"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("id")
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = encode_time(value)
        data["fingerprint"] = self.fingerprint
        return data


@dataclass(frozen=True)
class ValidationRecord:
    """What one validation learned, as the store keeps it."""

    status: str
    reason: str
    checked_at: datetime
    account_email: str | None = None
    account_uuid: str | None = None
    account_status: str | None = None
    token_expires_at: datetime | None = None


_COLUMNS = (
    "id",
    "name",
    "description",
    "token_hash",
    "token_kind",
    "version",
    "token_set_at",
    "status",
    "status_reason",
    "account_email",
    "account_uuid",
    "account_status",
    "token_expires_at",
    "created_at",
    "updated_at",
    "last_validated_at",
)
_TIMES = ("token_set_at", "created_at", "updated_at")
_OPTIONAL_TIMES = ("token_expires_at", "last_validated_at")
BATCH = 500
"""Connections read per query by :meth:`Connections.each`."""
# Built from constant column names only, never from input.
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM connections"  # noqa: S608


def _connection(row: Row) -> Connection:
    values = dict(zip(_COLUMNS, row, strict=True))
    where = f"connections row {values['name']!r}"
    for key in _TIMES:
        values[key] = decode_time(values[key], f"{where} ({key})")
    for key in _OPTIONAL_TIMES:
        values[key] = decode_optional_time(values[key], f"{where} ({key})")
    return Connection(**values)


class Connections(SealingRepository):
    """Add, read, update and remove connection records."""

    def all(self) -> list[Connection]:
        """Every connection, by name."""
        return list(self.each())

    def each(self) -> Iterator[Connection]:
        """Every connection, by name, never the whole fleet in memory at once.

        Read in batches of :data:`BATCH` by name (a driver that fetches a
        whole answer, as PostgreSQL's does, then holds one batch at most).
        """
        after = ""
        while True:
            rows = self._db.execute(
                f"{_SELECT} WHERE name > ? ORDER BY name LIMIT ?", (after, BATCH)
            )
            count = 0
            for row in rows:
                connection = _connection(row)
                after = connection.name
                count += 1
                yield connection
            if count < BATCH:
                return

    def count_by_status(self) -> dict[str, int]:
        """How many connections have each status (one aggregate query)."""
        query = "SELECT status, count(*) FROM connections GROUP BY status ORDER BY status"
        return {row[0]: int(row[1]) for row in self._db.execute(query)}

    def exists(self, name: str) -> bool:
        query = "SELECT 1 FROM connections WHERE name = ?"
        return self._db.execute(query, (name,)).fetchone() is not None

    def get(self, name: str) -> Connection:
        row = self._db.execute(f"{_SELECT} WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ConnectionNotFound(name)
        return _connection(row)

    def open_token(self, connection: Connection) -> Secret:
        """The connection's token, after proving it belongs to this record."""
        row = self._db.execute(
            "SELECT token_sealed, token_hash FROM connections WHERE id = ?", (connection.id,)
        ).fetchone()
        if row is None:
            raise ConnectionNotFound(connection.name)
        try:
            token = self._keyring().open(row[0], connection.identity)
        except RecordTampered as exc:
            raise RecordTampered(
                f"connection {connection.name!r}: its sealed token failed authentication "
                "(altered, or moved from another record); register the token again with "
                f"`rotator connection update {connection.name} --token-stdin`"
            ) from exc
        if token_hash(token) != row[1]:
            raise RecordTampered(
                f"connection {connection.name!r}: its token does not match its recorded hash"
            )
        return token

    def add(
        self,
        name: str,
        description: str,
        token: Secret,
        kind: str,
        validation: ValidationRecord | None,
    ) -> Connection:
        now = encode_time(self._now())
        record_id = str(uuid.uuid4())
        sealed = self._keyring().seal(token, f"connection/{record_id}/token")
        with self._db.transaction():
            hold_key_check(self._db, self._keyring())
            try:
                self._db.execute(
                    "INSERT INTO connections (id, name, description, token_sealed, token_hash, "
                    "token_kind, version, token_set_at, status, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 1, ?, 'unknown', ?, ?)",
                    (record_id, name, description, sealed, token_hash(token), kind, now, now, now),
                )
            except Conflict as exc:
                raise ConnectionExists(name) from exc
            if validation is not None:
                self._write_validation(record_id, validation)
            self._history.log(
                "connection_added",
                name,
                "ok",
                token_fingerprint=token_hash(token)[:12],
                version=1,
            )
        return self.get(name)

    def update(
        self,
        name: str,
        *,
        description: str | None = None,
        token: Secret | None = None,
        kind: str | None = None,
        validation: ValidationRecord | None = None,
    ) -> Connection:
        current = self.get(name)
        now = encode_time(self._now())
        new_token = token is not None and token_hash(token) != current.token_hash
        with self._db.transaction():
            if new_token:
                # First, before any row lock: rekey takes the key check, then the rows.
                hold_key_check(self._db, self._keyring())
            if description is not None:
                self._db.execute(
                    "UPDATE connections SET description = ?, updated_at = ? WHERE id = ?",
                    (description, now, current.id),
                )
            detail: dict[str, Any] = {"description_changed": description is not None}
            if token is not None and new_token:
                self._db.execute(
                    "UPDATE connections SET token_sealed = ?, token_hash = ?, token_kind = ?, "
                    "version = version + 1, token_set_at = ?, status = 'unknown', "
                    "status_reason = '', last_validated_at = NULL, token_expires_at = NULL, "
                    "validate_due_at = NULL, audit_due_at = NULL, updated_at = ? WHERE id = ?",
                    (
                        self._keyring().seal(token, current.identity),
                        token_hash(token),
                        kind or current.token_kind,
                        now,
                        now,
                        current.id,
                    ),
                )
                detail.update(token_fingerprint=token_hash(token)[:12], version=current.version + 1)
            if validation is not None:
                self._write_validation(current.id, validation)
            self._history.log("connection_updated", name, "ok", **detail)
        return self.get(name)

    def remove(self, name: str) -> None:
        current = self.get(name)
        with self._db.transaction():
            self._db.execute("DELETE FROM connections WHERE id = ?", (current.id,))
            self._history.log(
                "connection_removed", name, "ok", token_fingerprint=current.fingerprint
            )

    def record_validation(self, name: str, validation: ValidationRecord) -> Connection:
        current = self.get(name)
        with self._db.transaction():
            self._write_validation(current.id, validation)
            self._history.log(
                "connection_validated",
                name,
                validation.status,
                reason=validation.reason,
                token_fingerprint=current.fingerprint,
            )
        return self.get(name)

    def _write_validation(self, record_id: str, validation: ValidationRecord) -> None:
        # Unknown (a network failure) must not wipe what an earlier check learned.
        if validation.status == "unknown":
            self._db.execute(
                "UPDATE connections SET status = 'unknown', status_reason = ?, "
                "last_validated_at = ?, validate_due_at = NULL WHERE id = ?",
                (validation.reason, encode_time(validation.checked_at), record_id),
            )
            return
        self._db.execute(
            "UPDATE connections SET status = ?, status_reason = ?, last_validated_at = ?, "
            "validate_due_at = NULL, account_email = coalesce(?, account_email), "
            "account_uuid = coalesce(?, account_uuid), "
            "account_status = coalesce(?, account_status), token_expires_at = ? WHERE id = ?",
            (
                validation.status,
                validation.reason,
                encode_time(validation.checked_at),
                validation.account_email,
                validation.account_uuid,
                validation.account_status,
                encode_optional_time(validation.token_expires_at),
                record_id,
            ),
        )
