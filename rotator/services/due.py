"""When a policy is next rotated and its previous key revoked: one answer for status and daemon.

A rotation in flight is due at once (it resumes). Otherwise the next
rotation is ``current_since + every``, but not before the previous key's
grace period is over (a policy never keeps three keys alive). A policy
rotator never rotated has no time here: the daemon counts it from the key's
age in DigitalOcean at its first run.
"""

from __future__ import annotations

from datetime import datetime

from rotator.rotation_store import PolicyKeys
from rotator.settings import PolicyConfig


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


def revoke_due(keys: PolicyKeys | None, *, now: datetime) -> datetime | None:
    """When *policy*'s previous key is deleted (None: there is none)."""
    if keys is None or keys.previous_access_key is None:
        return None
    return keys.previous_revoke_after or now
