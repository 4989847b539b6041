"""Scope audit: the one entry point of ``rotator connection audit`` and the daemon's audit job.

:func:`required_for` is the one place a connection's required scopes are
worked out from the config (its policies' needs plus its ``extra_scopes``);
``config check`` asks it too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from rotator.audit import ScopeReport, TokenPolicy, audit
from rotator.digitalocean.scopes import required_scopes
from rotator.events import Notify, ScopesAudited, ignore
from rotator.settings import Settings
from rotator.store import Store

if TYPE_CHECKING:
    from rotator.services.context import Context


def required_for(settings: Settings, connection: str) -> frozenset[str]:
    """The scopes *connection*'s token needs: ``account:read``, its policies' and its extras."""
    return required_scopes(
        connection, settings.config.policies, settings.connection_config(connection).extra_scopes
    )


def required_by_connection(settings: Settings) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """:func:`required_for` of every connection the config names, and of any other one.

    Worked out once per config (the daemon keeps audit due times by it), not
    once per connection: a connection no policy and no ``[connections]`` entry
    names needs what the second value says.
    """
    named = {policy.connection for policy in settings.config.policies}
    named |= set(settings.config.connections)
    return {name: required_for(settings, name) for name in named}, required_scopes("", ())


def token_policy(settings: Settings) -> TokenPolicy:
    """When a token's age or coming expiry is worth a warning (``[daemon]`` settings)."""
    daemon = settings.config.daemon
    return TokenPolicy(max_token_age=daemon.max_token_age, expiry_warning=daemon.expiry_warning)


def audit_scopes(
    ctx: Context,
    store: Store,
    name: str,
    notify: Notify = ignore,
    *,
    max_age: timedelta | None,
    force: bool = False,
) -> ScopeReport:
    """Audit connection *name* (reusing a report younger than *max_age*) and report it."""
    report = audit(
        store,
        name,
        ctx.clients(),
        required=required_for(ctx.settings, name),
        policy=token_policy(ctx.settings),
        max_age=max_age,
        force=force,
        now=ctx.now,
    )
    notify(ScopesAudited(report))
    return report


def audit_connection(ctx: Context, name: str, *, refresh: bool = False) -> ScopeReport:
    """``rotator connection audit``: reuse a report younger than ``daemon.audit_every``."""
    with ctx.open_store(writer=True) as store, ctx.notifier(store) as notify:
        return audit_scopes(
            ctx,
            store,
            name,
            notify,
            max_age=ctx.settings.config.daemon.audit_every,
            force=refresh,
        )
