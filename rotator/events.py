"""What rotation, validation and audit report to alerting: one frozen dataclass per event.

The domain raises these; :mod:`rotator.alerting` turns each into the alert
condition it opens or closes, in one exhaustive ``match`` that mypy checks.
A new event is a new class here plus its case there (mypy fails until the
case exists). Events carry names, access key ids, fingerprints and messages,
never a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rotator.audit.report import ScopeReport
    from rotator.store import Connection


@dataclass(frozen=True)
class TokenChecked:
    """A connection's token was validated (the connection as stored after it)."""

    connection: Connection


@dataclass(frozen=True)
class ScopesAudited:
    """A connection's scopes were audited."""

    report: ScopeReport


@dataclass(frozen=True)
class RotationSucceeded:
    """A policy's new key was promoted after every sink confirmed it."""

    policy: str
    old_access_key: str
    new_access_key: str
    sinks: tuple[str, ...]


@dataclass(frozen=True)
class RotationFailed:
    """A rotation stopped short; the old key stays alive and the next run resumes."""

    policy: str
    old_access_key: str
    new_access_key: str | None
    error: str


@dataclass(frozen=True)
class SinkFailed:
    """One sink did not take the new key."""

    policy: str
    sink: str
    new_access_key: str
    error: str


@dataclass(frozen=True)
class KeyRevoked:
    """A policy's previous key was deleted (or was already gone) after its grace period.

    *left_to_expire*: rotator could not revoke it (it never held its secret) and
    no longer tracks it; it ends at its own expiry.
    """

    policy: str
    access_key: str
    left_to_expire: bool = False


@dataclass(frozen=True)
class RevokeFailed:
    """A policy's previous key could not be deleted; it is retried."""

    policy: str
    access_key: str
    error: str


@dataclass(frozen=True)
class RotationAbandoned:
    """An operator gave up an in-flight rotation; the old key stays current."""

    policy: str
    rotation_id: str
    old_access_key: str
    new_access_key: str | None
    new_key_deleted: bool
    reason: str


Event = (
    TokenChecked
    | ScopesAudited
    | RotationSucceeded
    | RotationFailed
    | SinkFailed
    | KeyRevoked
    | RevokeFailed
    | RotationAbandoned
)

Notify = Callable[[Event], None]
"""Where a domain operation reports its events (``Alerting.handle``, or nothing)."""


def ignore(event: Event) -> None:
    """The :data:`Notify` of a caller without alert channels."""
