"""A wrapper that keeps a secret out of reprs, logs and tracebacks.

Every token, secret key, Vault token and webhook secret travels through
rotator as a :class:`Secret`; only the code that must send it calls
:meth:`Secret.reveal`, at the last moment.
"""

from __future__ import annotations

import hashlib
import hmac


class Secret:
    """A secret string that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = value

    def reveal(self) -> str:
        """The secret itself; call only where it must be sent or sealed."""
        return self._value

    @property
    def sha256(self) -> str:
        """SHA-256 hex of the secret (what `sha256sum` prints for it)."""
        return hashlib.sha256(self._value.encode()).hexdigest()

    @property
    def fingerprint(self) -> str:
        """First 12 hex of the SHA-256: safe to log, show and alert on."""
        return self.sha256[:12]

    def __repr__(self) -> str:
        return f"Secret(sha256:{self.fingerprint}…)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not pickled")
