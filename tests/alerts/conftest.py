"""Fixtures for alert tests: a real receiver, a store on disk, an HTTP client, channels."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from alerts_support import SIGNING_SECRET, SLACK_PATH, WEBHOOK_PATH, Clock, Receiver

from rotator.alerts import SlackChannel, WebhookChannel
from rotator.crypto import Keyring, MasterKey
from rotator.secret import Secret
from rotator.store import Store


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def key_text() -> Secret:
    return MasterKey.generate_text()


@pytest.fixture
def store(tmp_path, key_text, clock) -> Iterator[Store]:
    keyring = Keyring(MasterKey.from_text(key_text, "test"))
    with Store.create(tmp_path / "state", keyring, now=clock) as opened:
        yield opened


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
