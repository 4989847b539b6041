"""Recognise a DigitalOcean API token by its shape, before it is ever sent.

DigitalOcean's current tokens are a prefix naming their kind, ``v1_`` and 64
lowercase hex characters (71 in all): ``dop_v1_`` personal access tokens,
``doo_v1_`` OAuth access tokens and ``dor_v1_`` OAuth refresh tokens. Older
personal tokens are the 64 hex characters alone. A refresh token can only buy
a new access token from the OAuth server; the API refuses it, so it is turned
away here with its own message rather than stored and later reported invalid.

Error messages describe the expected shape and, at most, the length seen:
never the text itself, which may well be a real secret pasted in the wrong
place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rotator.errors import InvalidTokenFormat
from rotator.secret import Secret

TokenKind = Literal["personal", "oauth", "legacy"]

_HEX_LENGTH = 64
_PREFIXED_LENGTH = len("dop_v1_") + _HEX_LENGTH
_KIND_BY_PREFIX: dict[str, TokenKind] = {"dop_v1_": "personal", "doo_v1_": "oauth"}
_REFRESH_PREFIX = "dor_v1_"
_PREFIXED = re.compile(r"(do[a-z])_v1_([0-9a-f]{64})")
_LEGACY = re.compile(r"[0-9a-f]{64}")
_EXPECTED = (
    "expected dop_v1_ (personal) or doo_v1_ (OAuth) followed by 64 lowercase hex "
    f"characters ({_PREFIXED_LENGTH} characters in all), or a legacy token of "
    f"{_HEX_LENGTH} lowercase hex characters"
)

LEGACY_WARNING = (
    "legacy token format (64 hex characters without a dop_v1_ prefix): "
    "replace it with a new personal access token"
)


@dataclass(frozen=True)
class ApiToken:
    """A DigitalOcean API token whose shape has been checked."""

    secret: Secret
    kind: TokenKind
    warning: str | None = field(default=None, compare=False)

    @property
    def sha256(self) -> str:
        """SHA-256 hex of the token, as `sha256sum` prints it."""
        return self.secret.sha256

    @property
    def fingerprint(self) -> str:
        """First 12 hex of the SHA-256: safe to log and show."""
        return self.secret.fingerprint


def parse_token(text: str) -> ApiToken:
    """Check that *text* is a DigitalOcean API token and say which kind.

    Surrounding whitespace (a trailing newline from a file or ``echo``) is
    dropped. Raises :class:`InvalidTokenFormat` for a refresh token or any
    other shape; the message never repeats the text.
    """
    candidate = text.strip()
    kind = token_kind(candidate)
    if kind == "legacy":
        return ApiToken(Secret(candidate), "legacy", LEGACY_WARNING)
    if kind is not None:
        return ApiToken(Secret(candidate), kind)
    raise InvalidTokenFormat(_explain(candidate))


def token_kind(text: str) -> TokenKind | None:
    """The kind of an already stripped token, or None if it is not an API token."""
    match = _PREFIXED.fullmatch(text)
    if match:
        return _KIND_BY_PREFIX.get(match.group(1) + "_v1_")
    if _LEGACY.fullmatch(text):
        return "legacy"
    return None


def _explain(candidate: str) -> str:
    """Why *candidate* was refused, without quoting it."""
    if not candidate:
        return "no token given: " + _EXPECTED
    if candidate.startswith(_REFRESH_PREFIX):
        return (
            "this is an OAuth refresh token (dor_v1_), not an API token: the API "
            "refuses refresh tokens; give the access token (doo_v1_) or a personal "
            "access token (dop_v1_)"
        )
    hints = []
    if candidate.lower() != candidate and re.fullmatch(r"[0-9A-Za-z_]+", candidate):
        hints.append("DigitalOcean tokens are lowercase")
    if any(character.isspace() for character in candidate):
        hints.append("it contains whitespace")
    hint = f" ({'; '.join(hints)})" if hints else ""
    return f"not a DigitalOcean API token{hint}: {_EXPECTED}; got {len(candidate)} characters"
