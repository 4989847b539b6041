"""From what a token holds and what it needs to one verdict.

``missing`` is what it needs and surely lacks; ``excess`` is what it holds
beyond its needs and the companion scopes (``api:write`` alone when it has
full access); ``unknown`` is what could not be decided. The verdict, first
match wins:

1. ``invalid``: DigitalOcean refused the token (401).
2. ``missing``: a required scope is surely not held.
3. ``too_broad``: anything is in excess.
4. ``unknown``: an undecided scope could still change the answer (a required
   one, or any non-companion scope that might be excess), or a write probe
   misfired.
5. ``ok``.

A scope rotator has no probe for is not "unknown" unless it is required: an
audit by probes cannot see it, and says so in ``not_probed`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rotator.audit.probing import Discovery
from rotator.digitalocean.scopes import (
    CATALOGUE,
    COMPANION_SCOPES,
    FULL_ACCESS,
    KNOWN_SCOPES,
)

Verdict = Literal["ok", "missing", "too_broad", "invalid", "unknown"]


@dataclass(frozen=True)
class Judgement:
    """The sets and the verdict for one token against one set of needs."""

    verdict: Verdict
    reason: str
    missing: frozenset[str]
    excess: frozenset[str]
    unknown: frozenset[str]
    full_access: bool


def judge(discovery: Discovery, required: frozenset[str]) -> Judgement:
    """Compare what the token holds (*discovery*) with what it needs (*required*)."""
    granted = frozenset(discovery.granted)
    if discovery.invalid:
        reason = "DigitalOcean refused the token (401): it is wrong, expired or revoked"
        return Judgement("invalid", reason, frozenset(), frozenset(), frozenset(), False)

    if discovery.source == "token_info":
        # Token info is complete: whatever it does not list is not held.
        missing = required - granted
        unknown: frozenset[str] = frozenset()
        full_access = FULL_ACCESS in granted
    else:
        missing = required & frozenset(discovery.absent)
        blind = required - KNOWN_SCOPES - granted - frozenset(discovery.absent)
        unknown = (
            frozenset(discovery.unknown) | (required & frozenset(discovery.not_probed)) | blind
        )
        probeable = {name for name, scope in CATALOGUE.items() if scope.probe is not None}
        # Every probe held (or only blurred by another held scope): as good as api:write.
        full_access = (
            discovery.stopped is None
            and not (probeable & discovery.absent)
            and (discovery.unknown <= discovery.ambiguous)
        )

    expected = required | COMPANION_SCOPES
    excess = frozenset({FULL_ACCESS}) if full_access else granted - expected

    deciding = {scope for scope in unknown if scope in required or scope not in COMPANION_SCOPES}
    if missing:
        verdict: Verdict = "missing"
        reason = f"lacks {_some(missing)}, which rotator needs"
    elif excess:
        verdict = "too_broad"
        if full_access:
            reason = "has full access (api:write): far more than rotator needs"
        else:
            reason = f"can do more than it needs: {_some(excess)}"
    elif deciding or discovery.defect is not None:
        verdict = "unknown"
        if discovery.defect is not None:
            reason = discovery.defect.describe()
        else:
            reason = f"could not decide {_some(frozenset(deciding))}"
            if discovery.stopped:
                reason += f" ({discovery.stopped})"
    else:
        verdict = "ok"
        reason = "holds what rotator needs and nothing more"
    return Judgement(verdict, reason, missing, excess, unknown, full_access)


def _some(scopes: frozenset[str], shown: int = 4) -> str:
    """A few scope names for a one-line reason; the report lists them all."""
    names = sorted(scopes)
    text = ", ".join(names[:shown])
    if len(names) > shown:
        text += f" and {len(names) - shown} more"
    return text
