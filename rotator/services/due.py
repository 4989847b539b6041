"""When a policy is next rotated and its previous key revoked: one answer for status and daemon.

A rotation in flight is due at once (it resumes). Otherwise the next
rotation is ``current_since + every``, but not before the previous key's
grace period is over (a policy never keeps three keys alive). A policy
rotator never rotated has no time here: the daemon counts it from the key's
age in DigitalOcean at its first run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rotator.rotation.machine import credential_kind
from rotator.settings import PolicyConfig
from rotator.store import PolicyKeys, Store

if TYPE_CHECKING:
    from rotator.services.context import Context

log = logging.getLogger(__name__)


def rotation_due(
    policy: PolicyConfig, keys: PolicyKeys | None, *, in_flight: bool, now: datetime
) -> datetime | None:
    """When *policy* is next rotated (None: never rotated, so counted from the key's age)."""
    if in_flight:
        return now
    if keys is None:
        return None
    due = keys.current_since + policy.every
    if keys.previous_access_key is not None and keys.previous_revoke_after is not None:
        due = max(due, keys.previous_revoke_after)
    return due


def next_rotation(store: Store, policy: PolicyConfig, now: datetime) -> datetime | None:
    """:func:`rotation_due` from what the store holds for *policy*."""
    records = store.rotations
    in_flight = records.in_flight(policy.name) is not None
    return rotation_due(policy, records.policy_keys(policy.name), in_flight=in_flight, now=now)


def next_revoke(store: Store, policy: PolicyConfig, now: datetime) -> datetime | None:
    """When *policy*'s previous key is deleted (None: there is none)."""
    return revoke_due(store.rotations.policy_keys(policy.name), now=now)


def revoke_due(keys: PolicyKeys | None, *, now: datetime) -> datetime | None:
    """When the previous key of a policy with *keys* is deleted (None: there is none)."""
    if keys is None or keys.previous_access_key is None:
        return None
    return keys.previous_revoke_after or now


def in_flight(store: Store, policies: Sequence[PolicyConfig]) -> list[str]:
    """The policies with a rotation in flight."""
    records = store.rotations
    return [p.name for p in policies if records.in_flight(p.name) is not None]


def key_created_at(ctx: Context, store: Store, policy: PolicyConfig) -> datetime | None:
    """When *policy*'s key was created, from DigitalOcean (its kind's list or get call).

    None when DigitalOcean gives no time: then the policy starts counting its
    key's age now (the key is adopted), rather than rotate blindly.
    """
    token = store.connections.open_token(store.connections.get(policy.connection))
    with ctx.clients()(token) as client:
        key = credential_kind(policy, client).current()
    created = key.created_at
    if created is None:
        log.warning(
            "policy %s: DigitalOcean gave no creation time for key %s; counting its age from now",
            policy.name,
            key.identifier,
        )
        store.rotations.adopt(policy.name, key.identifier)
        return None
    log.info(
        "policy %s: key %s was created at %s; first rotation due at %s",
        policy.name,
        key.identifier,
        f"{created:%Y-%m-%d %H:%M:%S}Z",
        f"{created + policy.every:%Y-%m-%d %H:%M:%S}Z",
    )
    return created
