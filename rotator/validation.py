"""Validate many connections' tokens at once and record what was learned.

Shared by ``rotator connection validate`` and the daemon's validation job.
HTTP runs in a thread pool (one DigitalOceanClient per token, one shared
``httpx.Client``); the store is touched only from the calling thread. One
connection's failure never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from rotator.digitalocean.account import Validation, validate
from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import RotatorError
from rotator.secret import Secret
from rotator.store import Connection, Store, ValidationRecord

log = logging.getLogger(__name__)

ClientFactory = Callable[[Secret], DigitalOceanClient]


@dataclass
class Outcome:
    """What validating one connection came to."""

    connection: Connection
    validation: Validation | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.validation.status if self.validation else "error"


def to_record(validation: Validation) -> ValidationRecord:
    """The part of a validation the store keeps."""
    account = validation.account
    info = validation.token_info
    expires_at = None
    if info is not None and info.expires_in_seconds is not None:
        expires_at = validation.checked_at + timedelta(seconds=info.expires_in_seconds)
    return ValidationRecord(
        status=validation.status,
        reason=validation.reason,
        checked_at=validation.checked_at,
        account_email=account.email if account else None,
        account_uuid=account.uuid if account else None,
        account_status=account.status if account else None,
        token_expires_at=expires_at,
    )


def check_token(token: Secret, clients: ClientFactory) -> Validation:
    """Validate one token against ``GET /v2/account`` (needs ``account:read``)."""
    with clients(token) as client:
        return validate(client)


def validate_connections(
    store: Store, connections: Sequence[Connection], clients: ClientFactory, *, concurrency: int = 8
) -> list[Outcome]:
    """Validate each connection's token and record the result in the store."""
    outcomes = [Outcome(connection) for connection in connections]
    tokens: dict[str, Secret] = {}
    for outcome in outcomes:
        try:
            tokens[outcome.connection.name] = store.connections.open_token(outcome.connection)
        except RotatorError as exc:
            outcome.error = str(exc)

    def run(outcome: Outcome) -> Outcome:
        try:
            outcome.validation = check_token(tokens[outcome.connection.name], clients)
        except RotatorError as exc:
            outcome.error = str(exc)
        return outcome

    pending = [o for o in outcomes if o.error is None]
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(pending) or 1))) as pool:
        list(pool.map(run, pending))

    for outcome in outcomes:
        if outcome.validation is not None:
            outcome.connection = store.connections.record_validation(
                outcome.connection.name, to_record(outcome.validation)
            )
            outcome.warnings = list(outcome.validation.warnings)
            log.info(
                "connection %s: token %s (%s)",
                outcome.connection.name,
                outcome.validation.status,
                outcome.validation.reason,
            )
        else:
            log.warning("connection %s: not validated: %s", outcome.connection.name, outcome.error)
    counts = {
        s: sum(o.status == s for o in outcomes) for s in ("valid", "invalid", "unknown", "error")
    }
    log.info(
        "validated %d connections: %s",
        len(outcomes),
        ", ".join(f"{n} {s}" for s, n in counts.items() if n),
    )
    return outcomes
