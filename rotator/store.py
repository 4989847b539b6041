"""The SQLite store: connection records, the audit log, and (later) rotation state.

One file, ``<state dir>/rotator.db`` (mode 0600, directory 0700, WAL). The
schema version lives in ``PRAGMA user_version`` and grows only through the
numbered ``MIGRATIONS`` below. Tokens are sealed with the keyring
(:mod:`rotator.crypto`) under the identity ``connection/<id>/token`` and the
token's SHA-256 is checked after every open, so a swapped or altered record
is refused rather than used.

A process that writes takes an exclusive ``flock`` on ``rotator.lock`` for as
long as it works; a second writer fails at once with :class:`StoreLocked`.
Readers need no lock (WAL lets them read while a writer works).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rotator.crypto import Keyring, token_hash
from rotator.errors import (
    ConnectionExists,
    ConnectionNotFound,
    RecordTampered,
    StoreCorrupt,
    StoreLocked,
    StoreNotInitialised,
)
from rotator.secret import Secret

Clock = Callable[[], datetime]
KEYCHECK_IDENTITY = "meta/keycheck"
KEYCHECK_TEXT = "rotator keycheck"

MIGRATIONS: list[list[str]] = [
    # 1: connections, the audit log and store metadata.
    [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE connections (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            token_sealed TEXT NOT NULL,
            token_hash TEXT NOT NULL,
            token_kind TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            token_set_at TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('valid', 'invalid', 'unknown')),
            status_reason TEXT NOT NULL DEFAULT '',
            account_email TEXT,
            account_uuid TEXT,
            account_status TEXT,
            token_expires_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_validated_at TEXT
        )""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            event TEXT NOT NULL,
            subject TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX audit_log_subject ON audit_log (subject, id)",
    ],
    # 2: scope reports, and the alert outbox with its de-duplication state.
    [
        """CREATE TABLE scope_reports (
            connection_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
            token_hash TEXT NOT NULL,
            audited_at TEXT NOT NULL,
            report TEXT NOT NULL
        )""",
        """CREATE TABLE alert_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            channel TEXT NOT NULL,
            event TEXT NOT NULL,
            subject TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            delivered_at TEXT,
            gave_up_at TEXT
        )""",
        "CREATE INDEX alert_outbox_pending ON alert_outbox (next_attempt_at) "
        "WHERE delivered_at IS NULL AND gave_up_at IS NULL",
        """CREATE TABLE alert_conditions (
            condition TEXT PRIMARY KEY,
            event TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail_hash TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            last_sent_at TEXT NOT NULL
        )""",
    ],
    # 3: rotation state — each policy's live keys, each rotation and its sinks.
    [
        """CREATE TABLE policy_keys (
            policy TEXT PRIMARY KEY,
            current_access_key TEXT NOT NULL,
            current_rotation_id TEXT,
            current_since TEXT NOT NULL,
            previous_access_key TEXT,
            previous_revoke_after TEXT,
            revoke_error TEXT,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE rotations (
            id TEXT PRIMARY KEY,
            policy TEXT NOT NULL,
            state TEXT NOT NULL,
            old_access_key TEXT NOT NULL,
            new_key_name TEXT NOT NULL,
            grants TEXT NOT NULL,
            new_access_key TEXT,
            new_secret_sealed TEXT,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT,
            last_error TEXT
        )""",
        # At most one rotation per policy is in flight, enforced by the database itself.
        "CREATE UNIQUE INDEX rotations_in_flight ON rotations (policy) "
        "WHERE state NOT IN ('succeeded', 'abandoned')",
        """CREATE TABLE rotation_sinks (
            rotation_id TEXT NOT NULL REFERENCES rotations (id),
            sink TEXT NOT NULL,
            status TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (rotation_id, sink)
        )""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime reached the store")
    return moment.astimezone(UTC).isoformat()


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


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
                data[key] = _iso(value)
        data["fingerprint"] = self.fingerprint
        return data


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
        return {**asdict(self), "at": _iso(self.at)}


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


@dataclass(frozen=True)
class StoredScopeReport:
    """A connection's latest scope audit, for the token it was made for."""

    token_hash: str
    audited_at: datetime
    report: dict[str, Any]


class WriterLock:
    """A non-blocking flock naming the process that holds it.

    Writers share ``rotator.lock`` (SQLite serialises their transactions, so
    the CLI can add a connection while the daemon works); ``init`` and
    ``rekey`` take it exclusively because they must see every sealed value.
    """

    def __init__(self, path: Path, *, exclusive: bool = True, what: str = "") -> None:
        self.path = path
        self.exclusive = exclusive
        self.what = what or f"store {path.parent}"
        self._handle: int | None = None

    def acquire(self) -> None:
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(handle, 200).decode(errors="replace").strip() or "unknown process"
            os.close(handle)
            raise StoreLocked(
                f"{self.what} is in use by another process ({holder}); "
                "wait for it to finish or stop it"
            ) from None
        if not self.exclusive:
            self._handle = handle  # the exclusive holder's name stays in the file
            return
        os.ftruncate(handle, 0)
        command = " ".join(Path(arg).name if i == 0 else arg for i, arg in enumerate(sys.argv[:3]))
        os.write(handle, f"pid {os.getpid()}: {command}".encode())
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            os.close(self._handle)  # closing drops the flock
            self._handle = None


class Store:
    """The open store. Use :meth:`open` (or :meth:`create` from ``rotator init``)."""

    def __init__(
        self, db: sqlite3.Connection, keyring: Keyring, lock: WriterLock | None, now: Clock
    ) -> None:
        self._db = db
        self.keyring = keyring
        self._lock = lock
        self.now = now

    # -- opening -----------------------------------------------------------

    @classmethod
    def create(cls, state_dir: Path, keyring: Keyring, *, now: Clock = utc_now) -> Store:
        """Create (or open) the store for writing; safe to call on an existing one."""
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        state_dir.chmod(0o700)
        path = state_dir / "rotator.db"
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return cls.open(state_dir, keyring, writer=True, exclusive=True, now=now)

    @classmethod
    def open(
        cls,
        state_dir: Path,
        keyring: Keyring,
        *,
        writer: bool,
        exclusive: bool = False,
        now: Clock = utc_now,
    ) -> Store:
        """Open an existing store; a ``writer`` takes the writer lock first.

        ``exclusive`` (init, rekey) keeps every other writer out; ordinary
        writers share the lock.
        """
        path = state_dir / "rotator.db"
        if not path.exists():
            raise StoreNotInitialised(f"no store at {path}; run `rotator init` first")
        lock = WriterLock(state_dir / "rotator.lock", exclusive=exclusive) if writer else None
        if lock is not None:
            lock.acquire()
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
            store = cls(db, keyring, lock, now)
            store._prepare(path, writer=writer)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return store

    def _prepare(self, path: Path, *, writer: bool) -> None:
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            if writer:
                self._db.execute("PRAGMA journal_mode = WAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            check = self._db.execute("PRAGMA quick_check(1)").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreCorrupt(f"{path} is not a rotator store ({exc})") from exc
        if check != "ok":
            self._db.close()
            raise StoreCorrupt(f"{path} is damaged (sqlite: {check})")
        if version > SCHEMA_VERSION:
            self._db.close()
            raise StoreCorrupt(
                f"{path} has schema version {version}, newer than this rotator knows "
                f"({SCHEMA_VERSION}); upgrade rotator"
            )
        if version < SCHEMA_VERSION:
            if writer:
                self._migrate(version)
            elif version == 0:
                self._db.close()
                raise StoreCorrupt(f"{path} is not a rotator store; run `rotator init`")
            else:
                # A reader after an upgrade migrates too, under the writer lock.
                lock = WriterLock(path.parent / "rotator.lock")
                lock.acquire()
                try:
                    self._migrate(self._db.execute("PRAGMA user_version").fetchone()[0])
                finally:
                    lock.release()
        self._check_key()

    def _migrate(self, version: int) -> None:
        if version >= SCHEMA_VERSION:
            return
        with self.transaction():
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if version == 0 and tables:
                raise StoreCorrupt("the store file holds tables but no rotator schema")
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if version == 0:
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('keycheck', ?), ('created_at', ?)",
                    (self.keyring.seal(Secret(KEYCHECK_TEXT), KEYCHECK_IDENTITY), _iso(self.now())),
                )

    def _check_key(self) -> None:
        """Fail fast, with a clear message, when the master key is not this store's."""
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'keycheck'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(f"the store is not a rotator store ({exc})") from exc
        if row is None:
            raise StoreCorrupt("the store has no key check record")
        if self.keyring.open(row[0], KEYCHECK_IDENTITY).reveal() != KEYCHECK_TEXT:
            raise RecordTampered("the store's key check record is wrong")

    @property
    def db(self) -> sqlite3.Connection:
        """The SQLite connection, for reads by the store's sibling record modules."""
        return self._db

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: all of it lands or none of it does."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- connections -------------------------------------------------------

    def _connection_from_row(self, row: sqlite3.Row | tuple[Any, ...]) -> Connection:
        values = dict(zip(_CONNECTION_COLUMNS, row, strict=True))
        values.pop("token_sealed")
        for key in (
            "token_set_at",
            "created_at",
            "updated_at",
            "last_validated_at",
            "token_expires_at",
        ):
            values[key] = _parse(values[key])
        return Connection(**values)

    def list_connections(self) -> list[Connection]:
        rows = self._db.execute(f"{_SELECT_CONNECTIONS} ORDER BY name").fetchall()
        return [self._connection_from_row(row) for row in rows]

    def has_connection(self, name: str) -> bool:
        query = "SELECT 1 FROM connections WHERE name = ?"
        return self._db.execute(query, (name,)).fetchone() is not None

    def get_connection(self, name: str) -> Connection:
        row = self._db.execute(f"{_SELECT_CONNECTIONS} WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ConnectionNotFound(name)
        return self._connection_from_row(row)

    def open_token(self, connection: Connection) -> Secret:
        """The connection's token, after proving it belongs to this record."""
        row = self._db.execute(
            "SELECT token_sealed, token_hash FROM connections WHERE id = ?", (connection.id,)
        ).fetchone()
        if row is None:
            raise ConnectionNotFound(connection.name)
        try:
            token = self.keyring.open(row[0], connection.identity)
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

    def add_connection(
        self,
        name: str,
        description: str,
        token: Secret,
        kind: str,
        validation: ValidationRecord | None,
    ) -> Connection:
        now = self.now()
        record_id = str(uuid.uuid4())
        sealed = self.keyring.seal(token, f"connection/{record_id}/token")
        with self.transaction() as db:
            try:
                db.execute(
                    "INSERT INTO connections (id, name, description, token_sealed, token_hash, "
                    "token_kind, version, token_set_at, status, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 1, ?, 'unknown', ?, ?)",
                    (
                        record_id,
                        name,
                        description,
                        sealed,
                        token_hash(token),
                        kind,
                        _iso(now),
                        _iso(now),
                        _iso(now),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise ConnectionExists(name) from exc
            if validation is not None:
                self._write_validation(db, record_id, validation)
            self._log(
                db,
                "connection_added",
                name,
                "ok",
                {"token_fingerprint": token_hash(token)[:12], "version": 1},
            )
        return self.get_connection(name)

    def update_connection(
        self,
        name: str,
        *,
        description: str | None = None,
        token: Secret | None = None,
        kind: str | None = None,
        validation: ValidationRecord | None = None,
    ) -> Connection:
        current = self.get_connection(name)
        now = _iso(self.now())
        with self.transaction() as db:
            if description is not None:
                db.execute(
                    "UPDATE connections SET description = ?, updated_at = ? WHERE id = ?",
                    (description, now, current.id),
                )
            detail: dict[str, Any] = {"description_changed": description is not None}
            if token is not None and token_hash(token) != current.token_hash:
                db.execute(
                    "UPDATE connections SET token_sealed = ?, token_hash = ?, token_kind = ?, "
                    "version = version + 1, token_set_at = ?, status = 'unknown', "
                    "status_reason = '', last_validated_at = NULL, token_expires_at = NULL, "
                    "updated_at = ? WHERE id = ?",
                    (
                        self.keyring.seal(token, current.identity),
                        token_hash(token),
                        kind or current.token_kind,
                        now,
                        now,
                        current.id,
                    ),
                )
                detail.update(token_fingerprint=token_hash(token)[:12], version=current.version + 1)
            if validation is not None:
                self._write_validation(db, current.id, validation)
            self._log(db, "connection_updated", name, "ok", detail)
        return self.get_connection(name)

    def remove_connection(self, name: str) -> None:
        current = self.get_connection(name)
        with self.transaction() as db:
            db.execute("DELETE FROM connections WHERE id = ?", (current.id,))
            self._log(
                db, "connection_removed", name, "ok", {"token_fingerprint": current.fingerprint}
            )

    def record_validation(self, name: str, validation: ValidationRecord) -> Connection:
        current = self.get_connection(name)
        with self.transaction() as db:
            self._write_validation(db, current.id, validation)
            self._log(
                db,
                "connection_validated",
                name,
                validation.status,
                {"reason": validation.reason, "token_fingerprint": current.fingerprint},
            )
        return self.get_connection(name)

    def _write_validation(
        self, db: sqlite3.Connection, record_id: str, validation: ValidationRecord
    ) -> None:
        # Unknown (a network failure) must not wipe what an earlier check learned.
        if validation.status == "unknown":
            db.execute(
                "UPDATE connections SET status = 'unknown', status_reason = ?, "
                "last_validated_at = ? WHERE id = ?",
                (validation.reason, _iso(validation.checked_at), record_id),
            )
            return
        db.execute(
            "UPDATE connections SET status = ?, status_reason = ?, last_validated_at = ?, "
            "account_email = coalesce(?, account_email), "
            "account_uuid = coalesce(?, account_uuid), "
            "account_status = coalesce(?, account_status), token_expires_at = ? WHERE id = ?",
            (
                validation.status,
                validation.reason,
                _iso(validation.checked_at),
                validation.account_email,
                validation.account_uuid,
                validation.account_status,
                _iso(validation.token_expires_at),
                record_id,
            ),
        )

    # -- master key rotation ----------------------------------------------

    def reseal_all(self, new_keyring: Keyring) -> int:
        """Re-seal every secret under ``new_keyring`` in one transaction.

        Any record that fails to open stops the whole re-seal before it
        commits, so the store is never left half under each key.
        """
        count = 0
        with self.transaction() as db:
            for table, column, identity_of in _SEALED_COLUMNS:
                rows = db.execute(
                    f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL"  # noqa: S608
                ).fetchall()
                for record_id, sealed in rows:
                    identity = identity_of(record_id)
                    try:
                        plaintext = self.keyring.open(sealed, identity)
                    except RecordTampered as exc:
                        raise RecordTampered(
                            f"{identity}: its sealed value failed authentication; "
                            "nothing was re-sealed"
                        ) from exc
                    db.execute(
                        f"UPDATE {table} SET {column} = ? WHERE id = ?",  # noqa: S608
                        (new_keyring.seal(plaintext, identity), record_id),
                    )
                    count += 1
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'keycheck'",
                (new_keyring.seal(Secret(KEYCHECK_TEXT), KEYCHECK_IDENTITY),),
            )
            self._log(
                db,
                "store_rekeyed",
                "store",
                "ok",
                {
                    "old_key_id": self.keyring.primary.key_id,
                    "new_key_id": new_keyring.primary.key_id,
                    "records": count,
                },
            )
        self.keyring = new_keyring
        return count

    def sealed_key_ids(self) -> set[str]:
        """The key ids that sealed anything in the store."""
        values = [
            row[0] for row in self._db.execute("SELECT value FROM meta WHERE key = 'keycheck'")
        ]
        for table, column, _ in _SEALED_COLUMNS:
            query = f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"  # noqa: S608
            values += [row[0] for row in self._db.execute(query)]
        return {self.keyring.key_id_of(value) for value in values}

    # -- scope reports -----------------------------------------------------

    def save_scope_report(
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

        One report per connection, replaced each time. Nothing is kept (False)
        when the connection's token is no longer *token_hash*: the token
        changed while the audit ran, and the report describes the old one.
        """
        current = self.get_connection(name)
        with self.transaction() as db:
            row = db.execute(
                "SELECT token_hash FROM connections WHERE id = ?", (current.id,)
            ).fetchone()
            if row is None or row[0] != token_hash:
                return False
            db.execute(
                "INSERT INTO scope_reports (connection_id, token_hash, audited_at, report) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (connection_id) DO UPDATE SET "
                "token_hash = excluded.token_hash, audited_at = excluded.audited_at, "
                "report = excluded.report",
                (current.id, token_hash, _iso(audited_at), json.dumps(report, sort_keys=True)),
            )
            self._log(
                db,
                "connection_audited",
                name,
                outcome,
                {"token_fingerprint": token_hash[:12], **(detail or {})},
            )
        return True

    def load_scope_report(self, name: str) -> StoredScopeReport | None:
        """The connection's latest scope report if it was made for its current token.

        A report about an earlier token is never returned, so a new token is
        always audited afresh. None too when the stored JSON is unreadable.
        """
        current = self.get_connection(name)
        row = self._db.execute(
            "SELECT token_hash, audited_at, report FROM scope_reports "
            "WHERE connection_id = ? AND token_hash = ?",
            (current.id, current.token_hash),
        ).fetchone()
        if row is None:
            return None
        try:
            report = json.loads(row[2])
        except ValueError:
            return None
        if not isinstance(report, dict):
            return None
        return StoredScopeReport(row[0], datetime.fromisoformat(row[1]), report)

    # -- audit log ---------------------------------------------------------

    def _log(
        self, db: sqlite3.Connection, event: str, subject: str, outcome: str, detail: dict[str, Any]
    ) -> None:
        db.execute(
            "INSERT INTO audit_log (at, event, subject, outcome, detail) VALUES (?, ?, ?, ?, ?)",
            (_iso(self.now()), event, subject, outcome, json.dumps(detail, sort_keys=True)),
        )

    def log_within(
        self, db: sqlite3.Connection, event: str, subject: str, outcome: str, **detail: Any
    ) -> None:
        """Append to the audit log inside the caller's transaction (commits with it)."""
        self._log(db, event, subject, outcome, detail)

    def log(self, event: str, subject: str, outcome: str, **detail: Any) -> None:
        """Append one entry to the audit log (never a secret in ``detail``)."""
        with self.transaction() as db:
            self._log(db, event, subject, outcome, detail)

    def history(self, *, subject: str | None = None, limit: int = 100) -> list[AuditEntry]:
        query = "SELECT id, at, event, subject, outcome, detail FROM audit_log"
        params: tuple[Any, ...] = ()
        if subject is not None:
            query += " WHERE subject = ?"
            params = (subject,)
        query += " ORDER BY id DESC LIMIT ?"
        rows = self._db.execute(query, (*params, limit)).fetchall()
        return [
            AuditEntry(
                row[0], datetime.fromisoformat(row[1]), row[2], row[3], row[4], json.loads(row[5])
            )
            for row in reversed(rows)
        ]


_CONNECTION_COLUMNS = (
    "id",
    "name",
    "description",
    "token_sealed",
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
# Built from constant column names only, never from input.
_SELECT_CONNECTIONS = f"SELECT {', '.join(_CONNECTION_COLUMNS)} FROM connections"  # noqa: S608

# Every sealed column, with the identity its values are sealed under (rekey walks these).
_SEALED_COLUMNS: tuple[tuple[str, str, Callable[[str], str]], ...] = (
    ("connections", "token_sealed", lambda record_id: f"connection/{record_id}/token"),
    ("rotations", "new_secret_sealed", lambda record_id: f"rotation/{record_id}/secret"),
)
