"""API tokens as the sandbox keeps them: a SHA-256 hash and what it grants, never the token.

A token is minted once (:func:`mint_token`), handed to the caller and
forgotten; the sandbox finds it again by hashing what arrives in the
``Authorization`` header (:func:`token_hash`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

# DigitalOcean's documented prefixes; a legacy token is bare hex.
PREFIXES = {"personal": "dop_v1_", "oauth": "doo_v1_", "legacy": ""}


def mint_token(kind: str) -> str:
    """A fresh token of the given kind: prefix + 64 lowercase hex."""
    if kind not in PREFIXES:
        raise ValueError(f"token kind must be one of {sorted(PREFIXES)}, not {kind!r}")
    return PREFIXES[kind] + secrets.token_hex(32)


def token_hash(token: str) -> str:
    """SHA-256 hex of a token: how the sandbox stores and finds it."""
    return hashlib.sha256(token.encode()).hexdigest()


def fingerprint(sha256: str) -> str:
    """The first 12 hex of the hash: safe to log."""
    return sha256[:12]


@dataclass
class TokenRecord:
    """What the sandbox knows about one token (never the token itself)."""

    sha256: str
    kind: str
    scopes: list[str]
    account: str
    name: str
    created_at: float
    expires_at: float | None = None
    revoked: bool = False
    application_uid: str | None = None

    def usable(self, now: float) -> bool:
        """Whether the token still authenticates: not revoked, not expired."""
        if self.revoked:
            return False
        return self.expires_at is None or now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        """The record as stored in the state file."""
        return {
            "sha256": self.sha256,
            "kind": self.kind,
            "scopes": list(self.scopes),
            "account": self.account,
            "name": self.name,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked": self.revoked,
            "application_uid": self.application_uid,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenRecord:
        """A record read back from the state file."""
        return cls(
            sha256=str(data["sha256"]),
            kind=str(data["kind"]),
            scopes=[str(s) for s in data["scopes"]],
            account=str(data["account"]),
            name=str(data["name"]),
            created_at=float(data["created_at"]),
            expires_at=None if data.get("expires_at") is None else float(data["expires_at"]),
            revoked=bool(data.get("revoked", False)),
            application_uid=data.get("application_uid"),
        )
