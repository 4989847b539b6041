"""Validate connections' tokens, record what was learned, and report it to alerting.

:func:`validate_tokens` is the one entry point of ``rotator connection
validate`` and the daemon's validation job: both warn about expiry by
``daemon.expiry_warning`` and on the context's clock.
HTTP runs in a thread pool (one DigitalOceanClient per token, one shared
``httpx.Client``); the store is touched only from the calling thread. One
connection's failure never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rotator.digitalocean.account import EXPIRY_WARNING, Validation, validate
from rotator.errors import RotatorError, UsageError
from rotator.events import Notify, TokenChecked, ignore
from rotator.secret import Secret
from rotator.services.clients import ClientFactory
from rotator.store import Connection, Store, ValidationRecord, utc_now

if TYPE_CHECKING:
    from rotator.services.context import Context

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


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


def check_token(
    token: Secret,
    clients: ClientFactory,
    *,
    now: Clock = utc_now,
    expiry_warning: timedelta = EXPIRY_WARNING,
) -> Validation:
    """Validate one token against ``GET /v2/account`` (needs ``account:read``)."""
    with clients(token) as client:
        return validate(client, now=now, expiry_warning=expiry_warning)


def check_new_token(ctx: Context, token: Secret) -> Validation:
    """Validate a token about to be stored, with the config's expiry warning and clock."""
    daemon = ctx.settings.config.daemon
    return check_token(token, ctx.clients(), now=ctx.now, expiry_warning=daemon.expiry_warning)


def validate_tokens(
    ctx: Context, store: Store, connections: Sequence[Connection], notify: Notify = ignore
) -> list[Outcome]:
    """Validate *connections*, record each result, and report each checked token to *notify*."""
    daemon = ctx.settings.config.daemon
    outcomes = validate_connections(
        store,
        connections,
        ctx.clients(),
        concurrency=daemon.concurrency,
        now=ctx.now,
        expiry_warning=daemon.expiry_warning,
    )
    for outcome in outcomes:
        if outcome.validation is not None:
            notify(TokenChecked(outcome.connection))
    return outcomes


def validate_named(ctx: Context, names: Sequence[str]) -> list[Outcome]:
    """``rotator connection validate``: *names* (in order, without repeats), else every one."""
    with ctx.open_store(writer=True) as store:
        if names:
            connections = [store.connections.get(name) for name in dict.fromkeys(names)]
        else:
            connections = store.connections.all()
            if not connections:
                raise UsageError(
                    "no connections registered; add one with `rotator connection add NAME`"
                )
        with ctx.notifier(store) as notify:
            return validate_tokens(ctx, store, connections, notify)


def validate_connections(
    store: Store,
    connections: Sequence[Connection],
    clients: ClientFactory,
    *,
    concurrency: int = 8,
    now: Clock = utc_now,
    expiry_warning: timedelta = EXPIRY_WARNING,
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
            outcome.validation = check_token(
                tokens[outcome.connection.name], clients, now=now, expiry_warning=expiry_warning
            )
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
