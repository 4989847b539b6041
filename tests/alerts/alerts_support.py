"""Shared pieces for alert tests: canary secrets and an alert as validation raises it.

The receiver is :class:`rotator.sandbox.receiver.Receiver` and the clock
:class:`tests.support.clock.FakeClock` (fixtures ``receiver`` and ``clock``).
"""

from __future__ import annotations

from datetime import datetime

from rotator.alerts import Alert
from rotator.secret import Secret
from tests.support.clock import START

# Canaries: none of these may ever leave rotator except where they must
# (the Slack path in the request line, the signing key inside the HMAC).
CANARY_TOKEN = "dop_v1_" + "c0ffee15bad5eed0" * 4
SIGNING_SECRET = "whsec-canary-7f3a9c1e5b2d4f6a8e0c"
SLACK_PATH = "/services/T0CANARY1/B0CANARY2/canarySlackToken9x8y7z6w"
WEBHOOK_PATH = "/hooks/rotator"
CANARIES = [CANARY_TOKEN, CANARY_TOKEN[7:], SIGNING_SECRET, SLACK_PATH, SLACK_PATH.rsplit("/")[-1]]

__all__ = [
    "CANARIES",
    "CANARY_TOKEN",
    "SIGNING_SECRET",
    "SLACK_PATH",
    "START",
    "WEBHOOK_PATH",
    "token_alert",
]


def token_alert(
    event: str = "token_invalid",
    subject: str = "prod",
    *,
    at: datetime = START,
    reason: str = "401 Unauthorized",
    resolved: bool = False,
) -> Alert:
    """An alert as validation would raise it: names and a fingerprint only."""
    return Alert.of(
        event,
        subject,
        title=f"Token {subject} is invalid" if not resolved else f"Token {subject} is valid again",
        text=f"DigitalOcean refused the token of connection {subject}.",
        occurred_at=at,
        facts={
            "connection": subject,
            "token_fingerprint": Secret(CANARY_TOKEN).fingerprint,
            "reason": reason,
        },
        resolved=resolved,
    )
