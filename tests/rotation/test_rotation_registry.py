"""Registry credentials in the state machine: the revoke that needs the secret, and its limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rotator.crypto import Keyring, MasterKey
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.events import KeyRevoked, RotationAbandoned
from rotator.rotation import PolicyRotation
from rotator.rotation.abandon import abandon_rotation
from rotator.secret import Secret
from rotator.settings import PolicyConfig
from rotator.store import Store
from tests.rotation.conftest import MemorySink
from tests.support.clock import FakeClock

REGISTRY = "demo-registry"  # the seeded one
REVOKE = "/v1/oauth/revoke"


@pytest.fixture
def registry(tmp_path, sandbox):
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    keyring = Keyring(MasterKey.from_text(MasterKey.generate_text(), "test"))
    store = Store.create(tmp_path / "state", keyring, now=clock)
    sandbox.add_registry_credentials(REGISTRY, expiry_seconds=90 * 86400)
    token = Secret(sandbox.add_token(["registry:read", "registry:update"]))
    client = DigitalOceanClient(
        token,
        api_url=sandbox.url,
        oauth_url=sandbox.url,
        registry_url=sandbox.url,
        retry=RetryPolicy(base_delay=0.01),
    )
    policy = PolicyConfig.model_validate(
        {
            "name": "media",
            "connection": "prod",
            "kind": "registry_credentials",
            "registry": REGISTRY,
            "expires_in": "90d",
            "grace": "1h",
            "sinks": [{"type": "vault", "url": "http://127.0.0.1:1", "path": "p", "token": "t"}],
        }
    )
    sink = MemorySink("memory")

    class World:
        def rotation(self, notify=None) -> PolicyRotation:
            return PolicyRotation(
                store, policy, client, [sink], lock_dir=tmp_path / "state", notify=notify
            )

        def rotate_twice(self) -> tuple[str, str]:
            """Two rotations, the clock past each grace: (previous, current) identifiers."""
            first = self.rotation().rotate()
            clock.advance(timedelta(hours=2))
            second = self.rotation().rotate()
            clock.advance(timedelta(hours=2))
            assert first.status == second.status == "succeeded"
            assert first.new_access_key and second.new_access_key
            return first.new_access_key, second.new_access_key

        def opens(self, identifier: str) -> bool:
            return any(c["id"] == identifier for c in sandbox.registry_credentials(REGISTRY))

        def revokes(self) -> int:
            return sum(1 for r in sandbox.requests() if r["path"] == REVOKE)

        def sql(self, statement: str, params: tuple[object, ...]) -> None:
            with store._db.transaction():
                store._db.execute(statement, params)

    world = World()
    world.store, world.sink, world.client, world.policy = store, sink, client, policy
    world.clock = clock
    world.lock_dir = tmp_path / "state"
    yield world
    client.close()
    store.close()


def test_the_previous_credentials_are_revoked_with_the_secret_the_store_kept(registry):
    previous, current = registry.rotate_twice()
    assert registry.opens(previous)
    assert registry.rotation().revoke_due() is True
    assert not registry.opens(previous) and registry.opens(current)
    assert registry.revokes() == 1


def test_credentials_whose_secret_cannot_be_opened_are_left_to_expire(registry, caplog):
    previous, _ = registry.rotate_twice()
    registry.sql(
        "UPDATE rotations SET new_secret_sealed = ? WHERE new_access_key = ?",
        ("v1.tampered", previous),
    )
    events: list[object] = []
    assert registry.rotation(events.append).revoke_due() is True
    assert registry.opens(previous)  # left to expire
    assert registry.revokes() == 0
    assert "left to expire" in caplog.text
    assert registry.store.rotations.policy_keys("media").previous_access_key is None
    assert events == [KeyRevoked("media", previous, left_to_expire=True)]


def test_the_hand_made_original_is_recorded_left_to_expire_never_revoked(registry):
    first = registry.rotation().rotate()
    assert first.status == "succeeded" and first.old_access_key == "docr-initial"
    registry.clock.advance(timedelta(hours=2))
    events: list[object] = []
    assert registry.rotation(events.append).revoke_due() is True
    assert events == [KeyRevoked("media", "docr-initial", left_to_expire=True)]
    assert registry.revokes() == 0
    [entry] = [e for e in registry.store.history.page() if e.event == "key_revoked"]
    assert entry.detail["left_to_expire"] is True


def test_a_previous_credential_that_is_also_the_current_one_is_never_revoked(registry, caplog):
    _, current = registry.rotate_twice()
    registry.sql(
        "UPDATE policy_keys SET previous_access_key = ? WHERE policy = ?", (current, "media")
    )
    assert registry.rotation().revoke_due() is True
    assert registry.opens(current)
    assert registry.revokes() == 0
    assert "also the current one" in caplog.text


def test_abandoning_with_an_unreadable_secret_still_abandons_and_notifies(registry):
    registry.sink.fail_with = "app not found"
    failed = registry.rotation().rotate()
    assert failed.status == "failed" and failed.new_access_key
    registry.sql(
        "UPDATE rotations SET new_secret_sealed = ? WHERE new_access_key = ?",
        ("v1.tampered", failed.new_access_key),
    )
    events: list[object] = []
    done = abandon_rotation(
        registry.store,
        registry.policy,
        registry.client,
        lock_dir=registry.lock_dir,
        reason="test",
        notify=events.append,
    )
    assert registry.store.rotations.in_flight("media") is None
    assert registry.opens(failed.new_access_key)  # left to expire
    assert registry.revokes() == 0
    assert [type(e) for e in events] == [RotationAbandoned]
    assert done.deleted_keys == ()  # not revoked: it cannot be, it expires
