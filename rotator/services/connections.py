"""Register, change, forget and read connections: the entry points of ``rotator connection``.

A new token is validated (unless the caller says not to) before anything is
stored; an invalid one changes nothing. The token itself comes through a
callable, so the command reads it (stdin or a no-echo prompt) only once the
name is known to be free or to exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rotator.digitalocean.account import Validation
from rotator.digitalocean.tokens import ApiToken
from rotator.errors import ConnectionExists, UsageError
from rotator.services.validate import check_new_token, to_record
from rotator.store import Connection

if TYPE_CHECKING:
    from rotator.services.context import Context

ReadToken = Callable[[], ApiToken]


@dataclass(frozen=True)
class TokenChange:
    """What adding or updating a connection did."""

    connection: Connection | None
    """As stored now; None when the new token was invalid and nothing changed."""
    validation: Validation | None
    """The new token's validation; None when not validated (or no new token)."""


def _validate(ctx: Context, token: ApiToken, validate: bool) -> Validation | None:
    return check_new_token(ctx, token.secret) if validate else None


def add_connection(
    ctx: Context, name: str, description: str, read_token: ReadToken, *, validate: bool = True
) -> TokenChange:
    """Register *name* with the token *read_token* gives (ConnectionExists if taken)."""
    with ctx.open_store(writer=True) as store:
        if store.connections.exists(name):
            raise ConnectionExists(name)
        token = read_token()
        validation = _validate(ctx, token, validate)
        if validation is not None and validation.status == "invalid":
            return TokenChange(None, validation)
        record = to_record(validation) if validation is not None else None
        connection = store.connections.add(name, description, token.secret, token.kind, record)
    return TokenChange(connection, validation)


def update_connection(
    ctx: Context,
    name: str,
    *,
    description: str | None,
    read_token: ReadToken | None,
    validate: bool = True,
) -> TokenChange:
    """Change *name*'s description and/or token (a new token bumps its version)."""
    with ctx.open_store(writer=True) as store:
        store.connections.get(name)
        token = read_token() if read_token is not None else None
        validation = _validate(ctx, token, validate) if token is not None else None
        if validation is not None and validation.status == "invalid":
            return TokenChange(None, validation)
        connection = store.connections.update(
            name,
            description=description,
            token=token.secret if token else None,
            kind=token.kind if token else None,
            validation=to_record(validation) if validation is not None else None,
        )
    return TokenChange(connection, validation)


def remove_connection(ctx: Context, name: str, confirm: Callable[[], bool]) -> bool:
    """Forget *name* once *confirm* says so; refused while a policy uses it. True if removed."""
    users = [p.name for p in ctx.settings.config.policies if p.connection == name]
    if users:
        raise UsageError(
            f"connection {name!r} is used by policy {users[0]!r}; remove it from the config first"
        )
    with ctx.open_store(writer=True) as store:
        store.connections.get(name)
        if not confirm():
            return False
        store.connections.remove(name)
    return True


def list_connections(ctx: Context) -> list[Connection]:
    with ctx.open_store(writer=False) as store:
        return store.connections.all()


@contextmanager
def reading_connections(ctx: Context) -> Iterator[Callable[[], Iterator[Connection]]]:
    """The store open for reading; each call of what it gives reads every connection afresh.

    ``rotator connection list`` streams: one pass for the table's widths, one
    to print, neither keeping the fleet in memory.
    """
    with ctx.open_store(writer=False) as store:
        yield store.connections.each


def get_connection(ctx: Context, name: str) -> Connection:
    with ctx.open_store(writer=False) as store:
        return store.connections.get(name)
