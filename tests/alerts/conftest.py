"""Fixtures for alert tests: an HTTP client and channels pointing at the shared ``receiver``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from alerts_support import SIGNING_SECRET, SLACK_PATH, WEBHOOK_PATH

from rotator.alerts import SlackChannel, WebhookChannel
from rotator.secret import Secret


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture
def webhook(receiver) -> WebhookChannel:
    return WebhookChannel("ops", receiver.url + WEBHOOK_PATH, Secret(SIGNING_SECRET))


@pytest.fixture
def slack(receiver) -> SlackChannel:
    return SlackChannel("team", Secret(receiver.url + SLACK_PATH))
