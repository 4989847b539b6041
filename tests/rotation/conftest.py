"""The rotation world: a sandbox, a store on a fixed clock, a policy and two in-memory sinks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rotator.crypto import Keyring, MasterKey
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.errors import SinkError
from rotator.rotation import PolicyRotation
from rotator.secret import Secret
from rotator.settings import PolicyConfig
from rotator.sinks.base import Confirmation, KeyPair, PushContext, Sink
from rotator.store import Store
from tests.support.clock import FakeClock

GRANTS = [{"bucket": "media", "permission": "readwrite"}]
SCOPES = ["spaces_key:read", "spaces_key:create_credentials", "spaces_key:delete"]


class MemorySink(Sink):
    """A sink that keeps what it was given, and fails when told to."""

    type = "memory"

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.pair: KeyPair | None = None
        self.pushes = 0
        self.fail_with: str | None = None

    def check(self) -> None:
        pass

    def describe_push(self, access_key: str, context: PushContext) -> list[str]:
        return [f"store {access_key}"]

    def push(self, keys: KeyPair, context: PushContext) -> Confirmation:
        self.pushes += 1
        if self.fail_with:
            raise SinkError(self.label, self.fail_with)
        self.pair = keys
        return Confirmation(self.label, {"pushes": str(self.pushes)})

    def holds(self) -> str | None:
        return self.pair.access_key if self.pair else None


@pytest.fixture
def world(tmp_path, sandbox):
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    keyring = Keyring(MasterKey.from_text(MasterKey.generate_text(), "test"))
    store = Store.create(tmp_path / "state", keyring, now=clock)
    original = sandbox.add_spaces_key("media-original", GRANTS)
    token = Secret(sandbox.add_token(SCOPES))
    client = DigitalOceanClient(
        token, api_url=sandbox.url, oauth_url=sandbox.url, retry=RetryPolicy(base_delay=0.01)
    )
    policy = PolicyConfig.model_validate(
        {
            "name": "media",
            "connection": "prod",
            "spaces_key": "media-original",
            "grace": "1h",
            "sinks": [{"type": "vault", "url": "http://127.0.0.1:1", "path": "p", "token": "t"}],
        }
    )
    sinks = [MemorySink("first"), MemorySink("second")]

    def rotation(notify=None) -> PolicyRotation:
        return PolicyRotation(
            store, policy, client, sinks, lock_dir=tmp_path / "state", notify=notify
        )

    yield {
        "store": store,
        "clock": clock,
        "sandbox": sandbox,
        "original": original,
        "sinks": sinks,
        "rotation": rotation,
        "records": store.rotations,
        "grants": GRANTS,
        "client": client,
        "policy": policy,
        "lock": tmp_path / "state" / "policy-media.lock",
    }
    client.close()
    store.close()
