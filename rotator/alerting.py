"""Turn what rotator learns into alert conditions: raised while true, resolved when not.

Validation, the scope audit and rotation each report a typed event
(:mod:`rotator.events`) to :meth:`Alerting.handle`; one exhaustive ``match``
decides which condition each event opens or closes and hands it to the
:class:`~rotator.alerts.Dispatcher` (which de-duplicates, persists and
delivers). An inconclusive finding ("unknown") neither raises nor clears.
Facts carry names, fingerprints, scope names and counts — never a secret.
A failing channel never breaks the caller: delivery errors stay in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import assert_never

from rotator.alerts import Alert, Dispatcher
from rotator.audit.report import ScopeReport
from rotator.events import (
    Event,
    KeyRevoked,
    RevokeFailed,
    RotationAbandoned,
    RotationFailed,
    RotationSucceeded,
    ScopesAudited,
    SinkFailed,
    TokenChecked,
)
from rotator.store import Connection

log = logging.getLogger(__name__)


class Alerting:
    """Opens and closes conditions through one dispatcher."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        now: Callable[[], datetime],
        max_token_age: timedelta,
        expiry_warning: timedelta,
    ) -> None:
        self.dispatcher = dispatcher
        self.now = now
        self.max_token_age = max_token_age
        self.expiry_warning = expiry_warning

    def _set(
        self,
        event: str,
        subject: str,
        active: bool,
        *,
        title: str,
        text: str,
        facts: dict[str, str],
    ) -> None:
        if active:
            self.dispatcher.raise_condition(
                Alert.of(
                    event, subject, title=title, text=text, occurred_at=self.now(), facts=facts
                )
            )
        else:
            self.dispatcher.clear_condition(event, subject)

    def handle(self, event: Event) -> None:
        """Open, close or send what *event* means for operators (each event once)."""
        match event:
            case TokenChecked(connection):
                self._token_checked(connection)
            case ScopesAudited(report):
                self._scopes_audited(report)
            case RotationSucceeded():
                self._rotation_succeeded(event)
            case SinkFailed():
                self._set(
                    "sink_failed",
                    f"{event.policy}/{event.sink}",
                    True,
                    title=f"Sink {event.sink} did not take the new key ({event.policy})",
                    text=f"{event.error}. The old key stays alive.",
                    facts={
                        "policy": event.policy,
                        "sink": event.sink,
                        "new_access_key": event.new_access_key,
                        "error": event.error,
                    },
                )
            case RotationFailed():
                self._set(
                    "rotation_failed",
                    event.policy,
                    True,
                    title=f"Rotation of policy {event.policy} failed",
                    text=f"{event.error}. The old key stays alive; the next run "
                    "resumes the rotation.",
                    facts={
                        "policy": event.policy,
                        "old_access_key": event.old_access_key,
                        "new_access_key": event.new_access_key or "-",
                        "error": event.error,
                    },
                )
            case RevokeFailed():
                self._set(
                    "revoke_failed",
                    event.policy,
                    True,
                    title=f"Old key of policy {event.policy} could not be deleted",
                    text=f"{event.error}. It is retried on the next run.",
                    facts={
                        "policy": event.policy,
                        "access_key": event.access_key,
                        "error": event.error,
                    },
                )
            case KeyRevoked():
                self.dispatcher.clear_condition("revoke_failed", event.policy)
                if event.left_to_expire:
                    title = f"Old credential of policy {event.policy} left to expire"
                    text = (
                        f"{event.access_key} was never held by rotator, so it cannot be "
                        "revoked; nothing uses it now and it ends at its own expiry."
                    )
                else:
                    title = f"Old key of policy {event.policy} deleted"
                    text = f"{event.access_key} is gone; only the current key is alive."
                self.dispatcher.notify(
                    Alert.of(
                        "key_revoked",
                        event.policy,
                        title=title,
                        text=text,
                        occurred_at=self.now(),
                        facts={"policy": event.policy, "access_key": event.access_key},
                    )
                )
            case RotationAbandoned():
                self._rotation_abandoned(event)
            case _:
                assert_never(event)

    # -- tokens ------------------------------------------------------------

    def _token_checked(self, connection: Connection) -> None:
        """After a validation: invalid token, locked account, expiry and age."""
        name = connection.name
        facts = {"connection": name, "token_fingerprint": connection.fingerprint}
        if connection.status != "unknown":
            self._set(
                "token_invalid",
                name,
                connection.status == "invalid",
                title=f"Token of connection {name} is invalid",
                text=f"DigitalOcean refused the token ({connection.status_reason}). "
                "Create a new token and run `rotator connection update "
                f"{name} --token-stdin`.",
                facts=facts,
            )
        if connection.account_status is not None:
            self._set(
                "account_locked",
                name,
                connection.account_status == "locked",
                title=f"DigitalOcean account of {name} is locked",
                text="The account behind this token is locked; check billing and "
                "DigitalOcean's notices.",
                facts={**facts, "account_status": connection.account_status},
            )
        now = self.now()
        expires = connection.token_expires_at
        if connection.status == "valid":
            expiring = expires is not None and expires - now < self.expiry_warning
            self._set(
                "token_expiring",
                name,
                expiring,
                title=f"Token of connection {name} expires soon",
                text=f"It expires at {expires:%Y-%m-%d %H:%M}Z; replace it before then."
                if expires
                else "It expires soon.",
                facts={**facts, "expires_at": expires.isoformat() if expires else "-"},
            )
        age = now - connection.token_set_at
        self._set(
            "token_old",
            name,
            age > self.max_token_age,
            title=f"Token of connection {name} is {age.days} days old",
            text=f"Tokens cannot be rotated through the API; create a new one (older "
            f"than {self.max_token_age.days} days is flagged) and update the "
            "connection.",
            facts={**facts, "age_days": str(age.days)},
        )

    def _scopes_audited(self, report: ScopeReport) -> None:
        """After a scope audit: missing scopes and excess (too broad) scopes."""
        if report.verdict in ("unknown", "invalid"):
            return  # invalid is validation's to report; unknown decides nothing
        name = report.name
        facts = {"connection": name, "token_fingerprint": report.fingerprint}
        self._set(
            "token_missing_scopes",
            name,
            bool(report.missing),
            title=f"Token of connection {name} lacks {len(report.missing)} scopes",
            text=f"It cannot do what its policies need: {', '.join(report.missing)}.",
            facts={**facts, "missing_scopes": ", ".join(report.missing)},
        )
        broad = bool(report.excess) or report.defect is not None
        blast = report.blast_radius.sentence if report.blast_radius else ""
        self._set(
            "token_too_broad",
            name,
            broad,
            title=f"Token of connection {name} can do more than it needs"
            + (" (full access)" if report.full_access else ""),
            text=" ".join(
                part
                for part in (
                    f"Excess scopes: {', '.join(report.excess)}." if report.excess else "",
                    f"It {blast}." if blast else "",
                    "Create a token with only the required scopes.",
                )
                if part
            ),
            facts={
                **facts,
                "excess_scopes": ", ".join(report.excess) or "-",
                "full_access": str(report.full_access).lower(),
                **({"blast_radius": blast} if blast else {}),
            },
        )

    # -- rotations ---------------------------------------------------------

    def _clear_rotation_conditions(self, policy: str) -> None:
        """The policy's rotation and sink failures no longer hold (resolved notices)."""
        self.dispatcher.clear_condition("rotation_failed", policy)
        for condition in self.dispatcher.open_conditions():
            if condition.event == "sink_failed" and condition.subject.startswith(f"{policy}/"):
                self.dispatcher.clear_condition("sink_failed", condition.subject)

    def _rotation_succeeded(self, event: RotationSucceeded) -> None:
        self._clear_rotation_conditions(event.policy)
        self.dispatcher.notify(
            Alert.of(
                "rotation_succeeded",
                event.policy,
                title=f"Key of policy {event.policy} rotated",
                text=f"{event.old_access_key} → {event.new_access_key}; "
                "the old key is deleted after the grace period.",
                occurred_at=self.now(),
                facts={
                    "policy": event.policy,
                    "old_access_key": event.old_access_key,
                    "new_access_key": event.new_access_key,
                    "sinks": ", ".join(event.sinks),
                },
            )
        )

    def _rotation_abandoned(self, event: RotationAbandoned) -> None:
        self._clear_rotation_conditions(event.policy)
        fate = (
            f"its new key {event.new_access_key} was deleted"
            if event.new_key_deleted
            else "no new key was left behind"
        )
        self.dispatcher.notify(
            Alert.of(
                "rotation_abandoned",
                event.policy,
                title=f"Rotation of policy {event.policy} abandoned",
                text=f"Rotation {event.rotation_id} was given up ({event.reason}); {fate}. "
                f"{event.old_access_key} stays the current key.",
                occurred_at=self.now(),
                facts={
                    "policy": event.policy,
                    "rotation_id": event.rotation_id,
                    "old_access_key": event.old_access_key,
                    "new_access_key": event.new_access_key or "-",
                    "new_key_deleted": str(event.new_key_deleted).lower(),
                    "reason": event.reason,
                },
            )
        )

    def flush(self) -> None:
        """Deliver what is due now; failures stay queued for the next try."""
        report = self.dispatcher.flush()
        log.debug("alerts delivered: %s", report)
