"""Audit a connection: reuse a fresh report, or ask DigitalOcean and keep the answer.

A stored report is reused only when it is about the connection's current
token (the store keys reports by token hash), younger than ``max_age``,
judged against the same required scopes, and was not undecided. Age and
expiry warnings depend on the moment, so they are worked out again each time
a report is shown, cached or not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from rotator.audit.blast import measure
from rotator.audit.probing import discover
from rotator.audit.report import ScopeReport
from rotator.audit.verdict import judge
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.scopes import KNOWN_SCOPES
from rotator.digitalocean.tokens import LEGACY_WARNING
from rotator.durations import describe_span
from rotator.secret import Secret
from rotator.store import Connection, Store, utc_now

log = logging.getLogger(__name__)

ClientFactory = Callable[[Secret], DigitalOceanClient]

MAX_TOKEN_AGE = timedelta(days=90)
"""DigitalOcean's own advice: replace personal access tokens at least every 90 days."""
EXPIRY_WARNING = timedelta(days=7)


@dataclass(frozen=True)
class TokenPolicy:
    """When a token's age or coming expiry deserves a warning."""

    max_token_age: timedelta = MAX_TOKEN_AGE
    expiry_warning: timedelta = EXPIRY_WARNING


def audit(
    store: Store,
    name: str,
    clients: ClientFactory,
    *,
    required: frozenset[str],
    policy: TokenPolicy = TokenPolicy(),
    max_age: timedelta | None = None,
    force: bool = False,
    thorough: bool = False,
    now: Callable[[], datetime] = utc_now,
) -> ScopeReport:
    """The connection's scope report, from the store when fresh, else from DigitalOcean.

    A fresh audit calls ``GET {oauth_url}/v1/oauth/token/info`` (no scope)
    and, only if that will not say, the probes of
    :mod:`rotator.digitalocean.scopes` (each needs the scope it probes), then
    the blast-radius list calls of :mod:`rotator.audit.blast`. It changes
    nothing in DigitalOcean. *max_age* None never reuses a report; *force*
    never does either.
    """
    moment = _aware(now())
    connection = store.connections.get(name)
    if not force and max_age is not None:
        cached = _fresh_report(store, connection, required, max_age, moment)
        if cached is not None:
            log.info("connection %s: reusing the scope report of %s", name, cached.audited_at)
            return _finish(cached, connection, policy, moment, cached=True)
    token = store.connections.open_token(connection)
    with clients(token) as client:
        report = audit_token(client, name, required=required, audited_at=moment, thorough=thorough)
    if report.expires_at is None and connection.token_expires_at is not None:
        # Probes cannot see expiry; the last validation may have.
        report = replace(report, expires_at=connection.token_expires_at)
    kept = store.scopes.save(
        name,
        connection.token_hash,
        moment,
        report.to_json(),
        outcome=report.verdict,
        detail={
            "source": report.source,
            "probe_calls": report.probe_calls,
            "missing": list(report.missing),
            "excess": len(report.excess),
            "defect": report.defect is not None,
        },
    )
    if not kept:
        log.warning("connection %s: its token changed during the audit; report not kept", name)
    return _finish(report, connection, policy, moment, cached=False)


def audit_token(
    client: DigitalOceanClient,
    name: str,
    *,
    required: frozenset[str],
    audited_at: datetime,
    thorough: bool = False,
) -> ScopeReport:
    """Audit the client's token against *required*, without the store.

    Calls token info, the probes when needed, and the blast-radius counts
    when the token holds more than it needs (see :func:`audit`).
    """
    calls_before = client.stats.snapshot().calls
    discovery = discover(client, required, thorough=thorough)
    judgement = judge(discovery, required)
    blast = None
    if judgement.excess and not discovery.invalid and discovery.defect is None:
        blast = measure(client, frozenset(discovery.granted), discovery.counts)
    notes = list(discovery.notes)
    unheard = sorted(required - KNOWN_SCOPES)
    if unheard:
        notes.append("required scopes that DigitalOcean does not document: " + ", ".join(unheard))
    if discovery.defect is not None:
        notes.insert(0, discovery.defect.describe())
    info = discovery.token_info
    expires_at = created_at = None
    if info is not None and info.expires_in_seconds is not None:
        expires_at = audited_at + timedelta(seconds=info.expires_in_seconds)
    if info is not None and info.created_at is not None:
        created_at = datetime.fromtimestamp(info.created_at, UTC)
    return ScopeReport(
        name=name,
        token_hash=client.token.sha256,
        audited_at=audited_at,
        source=discovery.source,
        verdict=judgement.verdict,
        reason=judgement.reason,
        required=tuple(sorted(required)),
        granted=tuple(sorted(discovery.granted)),
        missing=tuple(sorted(judgement.missing)),
        excess=tuple(sorted(judgement.excess)),
        unknown=tuple(sorted(judgement.unknown)),
        not_probed=tuple(sorted(discovery.not_probed - discovery.granted)),
        full_access=judgement.full_access,
        token_scopes=tuple(info.scopes) if discovery.source == "token_info" and info else None,
        blast_radius=blast,
        defect=discovery.defect,
        notes=tuple(notes),
        warnings=tuple(notes),
        probe_calls=discovery.probe_calls,
        api_calls=client.stats.snapshot().calls - calls_before,
        expires_at=expires_at,
        token_created_at=created_at,
    )


def token_warnings(
    connection: Connection, report: ScopeReport, policy: TokenPolicy, moment: datetime
) -> list[str]:
    """Age and expiry warnings for the connection's token at *moment*."""
    warnings = []
    if connection.token_kind == "legacy":  # noqa: S105 (a token kind, not a password)
        warnings.append(LEGACY_WARNING)
    if report.expires_at is not None:
        left = report.expires_at - moment
        if left <= timedelta(0):
            warnings.append(f"the token expired on {_day(report.expires_at)}")
        elif left < policy.expiry_warning:
            warnings.append(
                f"the token expires in {describe_span(left)} ({_day(report.expires_at)}): "
                "create a new one and run "
                f"`rotator connection update {connection.name} --token-stdin`"
            )
    # DigitalOcean's creation time when token info gave it, else when rotator got the token.
    born = connection.token_set_at
    if report.token_created_at is not None:
        born = min(born, report.token_created_at)
    age = moment - born
    if age > policy.max_token_age:
        warnings.append(
            f"the token is {describe_span(age)} old (since {_day(born)}), older than the "
            f"{describe_span(policy.max_token_age)} maximum: tokens cannot be rotated through "
            "the API, so create a new one and run "
            f"`rotator connection update {connection.name} "
            "--token-stdin`"
        )
    return warnings


def _fresh_report(
    store: Store,
    connection: Connection,
    required: frozenset[str],
    max_age: timedelta,
    moment: datetime,
) -> ScopeReport | None:
    stored = store.scopes.load(connection.name)
    if stored is None:
        return None
    try:
        report = ScopeReport.from_json(stored.report)
    except (KeyError, TypeError, ValueError) as exc:
        log.info("connection %s: stored scope report unreadable (%s)", connection.name, exc)
        return None
    age = moment - stored.audited_at
    if not timedelta(0) <= age <= max_age:
        return None
    if set(report.required) != required or report.verdict == "unknown":
        return None
    return report


def _finish(
    report: ScopeReport,
    connection: Connection,
    policy: TokenPolicy,
    moment: datetime,
    *,
    cached: bool,
) -> ScopeReport:
    warnings = [*report.notes, *token_warnings(connection, report, policy, moment)]
    return replace(report, warnings=tuple(warnings), cached=cached)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("audit() needs an aware now(), not a naive datetime")
    return moment.astimezone(UTC)


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")
