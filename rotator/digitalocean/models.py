"""What rotator keeps from DigitalOcean's account and token-info answers.

Both are parsed tolerantly: fields rotator does not use are ignored, optional
ones may be missing, so a new field in an answer never breaks validation.
Identifiers kept are checked against their shapes
(:mod:`rotator.digitalocean.identifiers`); free text (the email, status
message, team and application names) is kept on one line, control
characters escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rotator.digitalocean.identifiers import ACCOUNT_ID, checked
from rotator.errors import DigitalOceanError
from rotator.logs import one_line

_WHERE = "GET /v2/account"
# A scope as DigitalOcean names one (``account:read``, ``spaces_key:*``); anything
# else in a token-info answer makes the answer unusable, like a missing list.
_SCOPE = re.compile(r"[a-z0-9_.*-]{1,64}(:[a-z0-9_.*-]{1,64})?")
_TEXT_LIMIT = 500


@dataclass(frozen=True)
class Account:
    """The account a token belongs to (``GET /v2/account``)."""

    email: str
    uuid: str
    status: str
    """``active``, ``warning`` or ``locked`` (kept as sent if DigitalOcean adds more)."""
    status_message: str = ""
    email_verified: bool | None = None
    team_name: str | None = None
    team_uuid: str | None = None

    @classmethod
    def from_json(cls, body: object) -> Account:
        """Read ``{"account": {...}}``; raises DigitalOceanError if it is not one."""
        account = body.get("account") if isinstance(body, dict) else None
        if not isinstance(account, dict):
            raise DigitalOceanError("the answer to GET /v2/account holds no account object")
        email, uuid = account.get("email"), account.get("uuid")
        if not isinstance(email, str) or not isinstance(uuid, str):
            raise DigitalOceanError("the answer to GET /v2/account lacks the email or uuid")
        team = account.get("team")
        team = team if isinstance(team, dict) else {}
        team_uuid = team.get("uuid")
        verified = account.get("email_verified")
        return cls(
            email=_line(email) or "",
            uuid=checked(uuid, ACCOUNT_ID, "the account uuid", _WHERE),
            status=_line(account.get("status")) or "active",  # the spec's default
            status_message=(_line(account.get("status_message")) or "").strip(),
            email_verified=verified if isinstance(verified, bool) else None,
            team_name=_line(team.get("name")),
            team_uuid=None
            if team_uuid in (None, "")
            else checked(team_uuid, ACCOUNT_ID, "the team uuid", _WHERE),
        )


@dataclass(frozen=True)
class TokenInfo:
    """What DigitalOcean's OAuth server says about a token.

    The shape follows doctl (``do/oauth.go``, ``OAuthTokenInfo``):
    ``{"resource_owner_id": int, "scopes": [str], "expires_in_seconds": int,
    "application": {"uid": str}, "created_at": int}``. Only ``scopes`` is
    required here; the rest is kept when present and well typed.
    """

    scopes: tuple[str, ...]
    expires_in_seconds: int | None = None
    """None when the token does not expire or the server did not say."""
    resource_owner_id: int | None = None
    application_uid: str | None = None
    application_name: str | None = None
    created_at: int | None = None
    """Unix time the token was created, when given."""

    @classmethod
    def from_json(cls, body: object) -> TokenInfo | None:
        """Read a token-info answer; None unless it carries a list of string scopes."""
        if not isinstance(body, dict):
            return None
        scopes = body.get("scopes")
        if not isinstance(scopes, list) or not all(
            isinstance(scope, str) and _SCOPE.fullmatch(scope) for scope in scopes
        ):
            return None
        application = body.get("application")
        application = application if isinstance(application, dict) else {}
        return cls(
            scopes=tuple(scopes),
            expires_in_seconds=_integer(body.get("expires_in_seconds")),
            resource_owner_id=_integer(body.get("resource_owner_id")),
            application_uid=_line(application.get("uid")),
            application_name=_line(application.get("name")),
            created_at=_integer(body.get("created_at")),
        )


def _line(value: Any) -> str | None:
    """Free text from an answer: a string kept bounded and on one line, else None."""
    return one_line(value[:_TEXT_LIMIT]) if isinstance(value, str) else None


def _integer(value: Any) -> int | None:
    # bool is an int in Python, but never what these fields mean.
    return value if isinstance(value, int) and not isinstance(value, bool) else None
