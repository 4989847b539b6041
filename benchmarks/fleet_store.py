"""A store the size of a real fleet, for the fleet benchmarks: seeded by bulk SQL, not the API.

`rotator init` makes the store (so its schema is whatever the code under test
writes); then one transaction inserts N connections (each token sealed with
the store's own master key, validated and audited a minute ago, so nothing
is due) and M audit-log rows spread over the last 300 days (inside the
default 400-day retention, so nothing is pruned). Columns a later migration
adds keep their defaults: the code under test must cope with a store an
older version filled.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rotator.crypto import Keyring, load_master_key, token_hash
from rotator.secret import Secret

REQUIRED = ["account:read"]
"""What a connection no policy uses must be able to do (its scope report says so)."""


def rotator_command() -> list[str]:
    """The console script beside this interpreter, as an operator would run it."""
    script = Path(sys.executable).parent / "rotator"
    return [str(script)] if script.exists() else [sys.executable, "-m", "rotator"]


def environment(home: Path, config: str = "") -> dict[str, str]:
    """The environment of a rotator whose state and config live under *home*."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "rotator.toml").write_text(config)
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ROTATOR_STATE_DIR": str(home / "state"),
        "ROTATOR_CONFIG": str(home / "rotator.toml"),
        # Nothing listens here: an idle daemon must not need DigitalOcean.
        "ROTATOR_DO_API_URL": "http://127.0.0.1:9",
        "ROTATOR_DO_OAUTH_URL": "http://127.0.0.1:9",
    }


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _connections(keyring: Keyring, count: int, now: datetime) -> Iterator[tuple[object, ...]]:
    at = _time(now - timedelta(minutes=1))
    for number in range(count):
        record_id = str(uuid.uuid4())
        token = Secret(f"dop_v1_{number:064x}")
        sealed = keyring.seal(token, f"connection/{record_id}/token")
        yield (
            record_id,
            f"c{number:05d}",
            f"fleet connection {number}",
            sealed,
            token_hash(token),
            "personal",
            at,
            f"team{number % 50}@example.com",
            str(uuid.UUID(int=number)),
            at,
            at,
            at,
        )


def _reports(rows: list[tuple[str, str]], now: datetime) -> Iterator[tuple[object, ...]]:
    at = _time(now - timedelta(minutes=1))
    for record_id, hashed in rows:
        report = {
            "verdict": "ok",
            "granted": REQUIRED,
            "required": REQUIRED,
            "missing": [],
            "excess": [],
            "audited_at": at,
            "token_hash": hashed,
        }
        yield (record_id, hashed, at, json.dumps(report))


def _audit_rows(count: int, connections: int, now: datetime) -> Iterator[tuple[object, ...]]:
    start = now - timedelta(days=300)
    step = timedelta(days=300) / max(count, 1)
    for number in range(count):
        subject = f"c{number % max(connections, 1):05d}"
        detail = {"reason": "ok", "token_fingerprint": f"{number:012x}"}
        yield (
            _time(start + step * number),
            "connection_validated",
            subject,
            "valid",
            json.dumps(detail),
        )


def make_store(env: dict[str, str], *, connections: int = 0, audit_rows: int = 0) -> None:
    """`rotator init`, then *connections* connections and *audit_rows* audit-log rows."""
    subprocess.run([*rotator_command(), "init"], env=env, check=True, capture_output=True)
    if not connections and not audit_rows:
        return
    state = Path(env["ROTATOR_STATE_DIR"])
    keyring = Keyring(load_master_key(value=None, path=state / "master.key"))
    now = datetime.now(UTC)
    db = sqlite3.connect(state / "rotator.db")
    try:
        with db:
            db.executemany(
                "INSERT INTO connections (id, name, description, token_sealed, token_hash, "
                "token_kind, version, token_set_at, status, status_reason, account_email, "
                "account_uuid, account_status, created_at, updated_at, last_validated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 1, ?, 'valid', 'ok', ?, ?, 'active', ?, ?, ?)",
                _connections(keyring, connections, now),
            )
            rows = db.execute("SELECT id, token_hash FROM connections").fetchall()
            db.executemany(
                "INSERT INTO scope_reports (connection_id, token_hash, audited_at, report) "
                "VALUES (?, ?, ?, ?)",
                _reports(rows, now),
            )
            db.executemany(
                "INSERT INTO audit_log (at, event, subject, outcome, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                _audit_rows(audit_rows, connections, now),
            )
    finally:
        db.close()
