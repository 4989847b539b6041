"""Shared pieces for the Vault sink tests: the extra KV mounts, and fresh key pairs.

The OpenBao server itself is :class:`rotator.sandbox.openbao.OpenBao`.
"""

from __future__ import annotations

import secrets

from rotator.secret import Secret
from rotator.sinks.base import KeyPair

STRICT_MOUNT = "kv-strict"  # KV v2 demanding cas on data and (OpenBao) on metadata
KV1_MOUNT = "kv-one"  # KV version 1, which the sink must refuse


def new_pair(access_key: str | None = None) -> KeyPair:
    """A Spaces-shaped pair with a fresh random secret."""
    return KeyPair(
        access_key or "DO00" + secrets.token_hex(8).upper(),
        Secret(secrets.token_urlsafe(32)),
    )
