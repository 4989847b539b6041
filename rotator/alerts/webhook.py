"""Generic webhook channel: signed JSON, and how a receiver checks the signature.

The body is the alert's JSON plus ``"source": "rotator"`` and ``"version": 1``.
The header ``X-Rotator-Signature: t=<unix seconds>,v1=<hex>`` carries an
HMAC-SHA256, keyed with the configured secret, of ``"<t>.<raw body bytes>"``
(the usual Stripe-style scheme): the timestamp inside the signed text lets a
receiver refuse a replayed request, and :func:`verify_signature` is what it
should run.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from typing import ClassVar, Literal

from pydantic import SecretStr, model_validator

from rotator.alerts.base import (
    Alert,
    Channel,
    ChannelConfig,
    Request,
    json_body,
    register_secret,
)
from rotator.configtypes import HttpUrl, ReadableFile, one_of, read_secret
from rotator.secret import Secret

SIGNATURE_HEADER = "X-Rotator-Signature"
PAYLOAD_VERSION = 1
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def sign(secret: bytes | str, timestamp: int, body: bytes) -> str:
    """The ``X-Rotator-Signature`` value for ``body`` sent at ``timestamp``."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: bytes | str, header: str, body: bytes, *, now: float, tolerance: float = 300
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of ``now``.

    Malformed headers, stale (or far-future) timestamps and wrong digests all
    answer False; digests are compared in constant time. Several ``v1=``
    entries are accepted, so a sender may sign with an old and a new secret
    while the secret is being changed.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            if timestamp is not None or not value.isdigit():
                return False
            timestamp = int(value)
        elif key == "v1" and _HEX_DIGEST.fullmatch(value):
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rsplit("=", 1)[1]
    # Check every candidate so the time taken does not say which one matched.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(matches)


class WebhookAlertConfig(ChannelConfig):
    """``type = "webhook"``: a generic webhook that receives signed JSON alerts."""

    type: Literal["webhook"]
    url: HttpUrl
    secret: SecretStr | None = None
    secret_file: ReadableFile | None = None

    @model_validator(mode="after")
    def _secret_given(self) -> WebhookAlertConfig:
        one_of(self, "secret", "secret_file")
        return self

    def build(self, name: str) -> WebhookChannel:
        secret = read_secret(self.secret, self.secret_file, f"alert channel {name}: signing secret")
        return WebhookChannel(name, self.url, secret)


class WebhookChannel(Channel):
    """POSTs each alert as signed JSON to an operator's endpoint."""

    type: ClassVar[str] = "webhook"
    Config: ClassVar[builtins.type[ChannelConfig]] = WebhookAlertConfig

    def __init__(
        self, name: str, url: str, secret: Secret, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(name, url)
        self._secret = secret
        self._clock = clock
        register_secret(secret.reveal())

    def _request(self, alert: Alert) -> Request:
        body = json_body({**alert.to_json(), "source": "rotator", "version": PAYLOAD_VERSION})
        signature = sign(self._secret.reveal(), int(self._clock()), body)
        headers = {SIGNATURE_HEADER: signature, "X-Rotator-Event": alert.event}
        return Request(self._url, body, headers)

    def _secret_parts(self) -> list[str]:
        return [*super()._secret_parts(), self._secret.reveal()]

    def describe(self) -> str:
        return f"POST each alert as JSON signed in {SIGNATURE_HEADER} to {self.target} " + (
            f"(channel {self.name})"
        )
