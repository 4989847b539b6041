"""Is a token good? Ask ``GET /v2/account`` and read the answer carefully.

The verdicts, by what DigitalOcean answered:

* **200**: valid. The account's status is kept; ``warning`` or ``locked``
  becomes a warning carrying DigitalOcean's status message.
* **401**: invalid (wrong, expired or revoked).
* **403**: valid all the same, since DigitalOcean only says "forbidden" to a
  token it has authenticated, but the token lacks ``account:read``: a
  warning says so, and token info is asked for the scopes it does have.
* **429, 5xx, timeouts, dropped connections, odd answers**: unknown. The
  token may be fine; it must never be reported invalid on that evidence.

Token info (scopes, expiry) is fetched best effort after a 200 or 403 and
never changes the verdict on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.models import Account, TokenInfo
from rotator.digitalocean.tokens import LEGACY_WARNING, token_kind
from rotator.durations import describe_span
from rotator.errors import (
    APIError,
    DigitalOceanError,
    Forbidden,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
)

ValidationStatus = Literal["valid", "invalid", "unknown"]

LACKS_ACCOUNT_READ = "token lacks account:read"
EXPIRY_WARNING = timedelta(days=7)
"""Warn when token info says the token expires sooner than this."""


@dataclass(frozen=True)
class Validation:
    """The outcome of checking one token; holds no secret."""

    status: ValidationStatus
    reason: str
    """One line for a human: why this status."""
    checked_at: datetime
    """When the check ran (aware, UTC)."""
    account: Account | None = None
    warnings: list[str] = field(default_factory=list)
    token_info: TokenInfo | None = None
    request_id: str | None = None
    """DigitalOcean's request id for the account call, for support tickets."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def validate(
    client: DigitalOceanClient,
    *,
    now: Callable[[], datetime] = _utc_now,
    expiry_warning: timedelta = EXPIRY_WARNING,
) -> Validation:
    """Validate the client's token with ``GET /v2/account`` (scope ``account:read``).

    Also asks ``GET {oauth_url}/v1/oauth/token/info`` (no scope) for scopes
    and expiry, best effort. Never raises for what DigitalOcean answers or
    fails to answer: that becomes the status.
    """
    checked_at = now()
    if checked_at.tzinfo is None:
        raise ValueError("validate() needs an aware now(), not a naive datetime")
    checked_at = checked_at.astimezone(UTC)
    warnings = [LEGACY_WARNING] if token_kind(client.token.reveal()) == "legacy" else []

    try:
        account = client.account()
    except Unauthorized as error:
        reason = "DigitalOcean refused the token (401): it is wrong, expired or revoked"
        return Validation("invalid", reason, checked_at, request_id=error.request_id)
    except Forbidden as error:
        warnings.append(LACKS_ACCOUNT_READ)
        info = client.token_info()
        warnings += _expiry_warnings(info, expiry_warning)
        reason = "DigitalOcean accepted the token but refused GET /v2/account (403)"
        return Validation(
            "valid",
            reason,
            checked_at,
            warnings=warnings,
            token_info=info,
            request_id=error.request_id,
        )
    except DigitalOceanError as error:
        return Validation(
            "unknown",
            _why_unknown(error),
            checked_at,
            warnings=warnings,
            request_id=error.request_id if isinstance(error, APIError) else None,
        )

    if account.status != "active":
        detail = f": {account.status_message}" if account.status_message else ""
        warnings.append(f"account status is {account.status}{detail}")
    info = client.token_info()
    warnings += _expiry_warnings(info, expiry_warning)
    return Validation(
        "valid",
        f"token authenticates as {account.email} (account {account.status})",
        checked_at,
        account=account,
        warnings=warnings,
        token_info=info,
    )


def _why_unknown(error: DigitalOceanError) -> str:
    """Why the check could not decide, in words an operator can act on."""
    if isinstance(error, RateLimited):
        after = f"; retry after {error.retry_after:.0f}s" if error.retry_after is not None else ""
        return f"rate limited by DigitalOcean (429){after}"
    if isinstance(error, ServerError):
        return f"DigitalOcean had a server error: {error}"
    if isinstance(error, TransportError):
        return f"no answer from DigitalOcean: {error}"
    if isinstance(error, APIError):
        return f"unexpected answer from DigitalOcean: {error}"
    return f"unreadable answer from DigitalOcean: {error}"


def _expiry_warnings(info: TokenInfo | None, within: timedelta) -> list[str]:
    if info is None or info.expires_in_seconds is None:
        return []
    left = timedelta(seconds=info.expires_in_seconds)
    if left <= timedelta(0):
        return ["token info says the token has expired"]
    if left < within:
        return [f"token expires in {describe_span(left)}"]
    return []
