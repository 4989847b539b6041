"""App Platform's encrypted env values, ``EV[1:<nonce>:<ciphertext>]``, the sandbox way.

DigitalOcean never returns a SECRET env var in plaintext: a GET shows an
opaque ``EV[1:...]`` string, and sending that string back in a PUT keeps
the secret. The sandbox mimics this with a deterministic, authenticated
construction from the standard library only (HMAC-SHA256 as nonce
derivation, keystream and tag), bound to the app id so an EV from one app
is unknown to another. Deterministic means the same stored value reads back
as the same EV every time, which is what clients see on the real API too.

This protects sandbox data from casual reading only; it is not meant for
real secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_EV = re.compile(r"^EV\[1:([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)\]$")
_NONCE = 16
_TAG = 16


def looks_sealed(value: str) -> bool:
    """Whether a value has the outer shape of an encrypted env value."""
    return value.startswith("EV[") and value.endswith("]")


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = []
    for counter in range((length + 31) // 32):
        message = b"stream" + nonce + counter.to_bytes(8, "big")
        blocks.append(hmac.new(key, message, hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def _tag(key: bytes, binding: str, nonce: bytes, ciphertext: bytes) -> bytes:
    message = b"tag" + binding.encode() + b"\0" + nonce + ciphertext
    return hmac.new(key, message, hashlib.sha256).digest()[:_TAG]


def seal(key: bytes, binding: str, plaintext: str) -> str:
    """The ``EV[1:...]`` form of ``plaintext`` for the app ``binding``."""
    data = plaintext.encode()
    nonce_input = b"nonce" + binding.encode() + b"\0" + data
    nonce = hmac.new(key, nonce_input, hashlib.sha256).digest()[:_NONCE]
    ciphertext = bytes(a ^ b for a, b in zip(data, _keystream(key, nonce, len(data)), strict=True))
    sealed = ciphertext + _tag(key, binding, nonce, ciphertext)
    return f"EV[1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}]"


def unseal(key: bytes, binding: str, value: str) -> str | None:
    """The plaintext behind an EV this sandbox issued for ``binding``, else None."""
    match = _EV.match(value)
    if match is None:
        return None
    try:
        nonce = base64.b64decode(match.group(1), validate=True)
        sealed = base64.b64decode(match.group(2), validate=True)
    except ValueError:
        return None
    if len(nonce) != _NONCE or len(sealed) < _TAG:
        return None
    ciphertext, tag = sealed[:-_TAG], sealed[-_TAG:]
    if not hmac.compare_digest(tag, _tag(key, binding, nonce, ciphertext)):
        return None
    stream = _keystream(key, nonce, len(ciphertext))
    data = bytes(a ^ b for a, b in zip(ciphertext, stream, strict=True))
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None
