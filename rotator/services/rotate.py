"""Rotate, revoke and abandon: the entry points of ``rotator rotate`` and the daemon's jobs.

Each builds what rotating one policy takes (its connection's client, its
sinks, the state machine) the same way for both, so the CLI and the daemon
rotate exactly alike. Waits go through the context's ``sleep``: the
daemon's is interrupted by a stop request (App Platform polls a deployment
for minutes).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from rotator.errors import RotatorError, StoreLocked
from rotator.events import Notify, ignore
from rotator.rotation import PolicyRotation, RotationResult
from rotator.rotation.abandon import Abandoned, abandon_rotation
from rotator.rotation.machine import WAITING
from rotator.settings import PolicyConfig
from rotator.sinks import SinkDeps, build_sink
from rotator.sinks.base import Progress, no_progress
from rotator.store import Fence, Store, policy_item

if TYPE_CHECKING:
    from rotator.services.context import Context

__all__ = [
    "ABANDON_REASON",
    "WAITING",
    "Progress",
    "abandon",
    "abandon_now",
    "policy_rotation",
    "revoke",
    "rotate",
    "rotate_now",
]

ABANDON_REASON = "given up by an operator (rotator rotate --abandon)"


@contextlib.contextmanager
def policy_rotation(
    ctx: Context,
    store: Store,
    policy: PolicyConfig,
    notify: Notify = ignore,
    progress: Progress = no_progress,
    *,
    defer: bool = False,
    fence: Fence | None = None,
    renew: timedelta | None = None,
) -> Iterator[PolicyRotation]:
    """A :class:`PolicyRotation` for *policy*; its client and sinks are closed on exit.

    With a *fence* (the policy's lease) every state write is fenced, and every
    wait of a sink (a deployment's polls) checks the lease — or renews it for
    *renew* when no renewer thread does (the CLI) — so a lost lease stops the
    rotation before its next side effect.
    """
    token = store.connections.open_token(store.connections.get(policy.connection))
    sleep = ctx.sleep
    if fence is not None:

        def sleep(seconds: float) -> None:
            ctx.sleep(seconds)
            if renew is None:
                store.leases.check(fence)
            else:
                store.leases.renew(fence, renew)

    with ctx.clients()(token) as client, contextlib.ExitStack() as cleanup:
        deps = SinkDeps(digitalocean=client, sleep=sleep)
        sinks = []
        for config in policy.sinks:
            sink = build_sink(config, deps)
            cleanup.callback(sink.close)
            sinks.append(sink)
        yield PolicyRotation(
            store,
            policy,
            client,
            sinks,
            lock_dir=ctx.settings.state_dir,
            notify=notify,
            progress=progress,
            defer=defer,
            fence=fence,
        )


def rotate(
    ctx: Context,
    store: Store,
    policy: PolicyConfig,
    notify: Notify = ignore,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    defer: bool = False,
    fence: Fence | None = None,
    renew: timedelta | None = None,
) -> RotationResult:
    """Rotate *policy* now, or finish its interrupted rotation; a dry run changes nothing.

    *progress* hears each phase change of the wait (created key, PUT, the
    deployment's phases, revoke scheduled); the CLI prints them. *defer* (the
    daemon) returns ``waiting_for_deployment`` instead of waiting for a slow
    sink; call again later to confirm it. *fence*, *renew*: see
    :func:`policy_rotation`.
    """
    with policy_rotation(
        ctx,
        store,
        policy,
        ignore if dry_run else notify,
        progress,
        defer=defer,
        fence=fence,
        renew=renew,
    ) as rotation:
        return rotation.rotate(dry_run=dry_run)


def revoke(
    ctx: Context,
    store: Store,
    policy: PolicyConfig,
    notify: Notify = ignore,
    *,
    fence: Fence | None = None,
) -> bool | None:
    """Delete *policy*'s previous key if its grace period is over (see ``revoke_due``)."""
    with policy_rotation(ctx, store, policy, notify, fence=fence) as rotation:
        return rotation.revoke_due()


def abandon(
    ctx: Context,
    store: Store,
    policy: PolicyConfig,
    notify: Notify = ignore,
    *,
    reason: str = ABANDON_REASON,
    fence: Fence | None = None,
) -> Abandoned:
    """Give up *policy*'s rotation in flight (see :mod:`rotator.rotation.abandon`).

    Needs no sink: a sink's config may be what made the rotation hopeless.
    """
    token = store.connections.open_token(store.connections.get(policy.connection))
    with ctx.clients()(token) as client:
        return abandon_rotation(
            store,
            policy,
            client,
            lock_dir=ctx.settings.state_dir,
            reason=reason,
            notify=notify,
            fence=fence,
        )


ROTATION_CALLS = 10
"""The calls one rotation needs at most, admitted before it starts (retries aside)."""


def rotate_now(
    ctx: Context, name: str, *, dry_run: bool = False, progress: Progress = no_progress
) -> RotationResult:
    """``rotator rotate POLICY``: rotate now, or finish the interrupted rotation.

    The rotation's calls are admitted against its token's budget first
    (waiting at most ``[digitalocean] max_wait``): one that cannot have them
    does not start, and :class:`~rotator.errors.RateLimited` names the time
    the budget resets. A rotation stopped half-way by a rate limit stays in
    flight; ``rotator rotate`` resumes it.
    """
    policy = ctx.policy(name)
    with ctx.open_store(writer=True) as store, ctx.notifier(store) as notify:
        if dry_run:
            return rotate(ctx, store, policy, notify, dry_run=True, progress=progress)
        ttl = ctx.settings.config.daemon.lease_ttl
        with (
            operator_lease(store, policy, ttl) as fence,
            admitted(ctx, store, policy, ROTATION_CALLS),
        ):
            return rotate(ctx, store, policy, notify, progress=progress, fence=fence, renew=ttl)


@contextlib.contextmanager
def admitted(ctx: Context, store: Store, policy: PolicyConfig, calls: int) -> Iterator[None]:
    """Hold *calls* of *policy*'s token's budget for the block, or raise RateLimited."""
    from rotator.digitalocean.admission import admit
    from rotator.digitalocean.budget import Refusal, refused_error

    pool = ctx.client_pool()
    token = store.connections.open_token(store.connections.get(policy.connection))
    wait = ctx.settings.config.digitalocean.max_wait.total_seconds()
    with pool(token) as client:
        admission = admit(client, calls, max_delay=wait)
        if admission.reservation is None:
            refusal = Refusal(admission.key, admission.not_before)
            raise refused_error(refusal, client.now())
        if admission.delay > 0:
            ctx.sleep(admission.delay)
        with admission.reservation, pool.reserving(admission.reservation):
            yield


def abandon_now(ctx: Context, name: str, *, reason: str = ABANDON_REASON) -> Abandoned:
    """``rotator rotate POLICY --abandon``: give up the rotation in flight."""
    policy = ctx.policy(name)
    ttl = ctx.settings.config.daemon.lease_ttl
    with (
        ctx.open_store(writer=True) as store,
        ctx.notifier(store) as notify,
        operator_lease(store, policy, ttl) as fence,
    ):
        return abandon(ctx, store, policy, notify, reason=reason, fence=fence)


@contextlib.contextmanager
def operator_lease(store: Store, policy: PolicyConfig, ttl: timedelta) -> Iterator[Fence | None]:
    """The policy's lease for a command, so it never works beside a daemon replica.

    Refused (StoreLocked) while a replica holds the policy; released at the end.
    On PostgreSQL only (None on SQLite): there every process is on one host and
    the policy's file lock already keeps a command and the daemon apart.
    """
    if store.path is not None:
        yield None
        return
    holder = f"cli-{socket.gethostname().split('.')[0][:40]}-{os.getpid()}"
    claim = store.leases.claim(policy_item(policy.name), holder, ttl)
    if claim.fence is None:
        raise StoreLocked(
            f"policy {policy.name!r} is being worked on by {claim.holder or 'another process'} "
            f"(its lease ends within {claim.remaining.total_seconds():.0f}s); try again then"
        )
    try:
        yield claim.fence
    finally:
        with contextlib.suppress(RotatorError):  # it expires on its own
            store.leases.release(claim.fence)
