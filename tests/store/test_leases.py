"""Leases and fencing tokens, on both backends: claim, renew, release, fenced writes, replicas."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from rotator.digitalocean.spaces import Grant
from rotator.errors import LeaseLost, StoreError
from rotator.secret import Secret
from rotator.store import Fence

TTL = timedelta(seconds=30)
GRANTS = (Grant("media", "readwrite"),)


def _expire(backend, item: str) -> None:
    """Make a lease run out now, as if its holder paused past it (the database clock decides)."""
    backend.sql("UPDATE leases SET expires_at = expires_at - 3600000 WHERE item = ?", (item,))


def test_a_free_item_is_claimed_with_token_1(store):
    claim = store.leases.claim("policy:media", "a", TTL)
    assert claim.fence == Fence("policy:media", 1)
    [lease] = store.leases.held()
    assert (lease.item, lease.holder, lease.token) == ("policy:media", "a", 1)
    assert timedelta(seconds=25) < lease.remaining <= TTL
    assert lease.alive


def test_a_live_lease_refuses_another_holder_and_says_who_and_how_long(store):
    store.leases.claim("policy:media", "a", TTL)
    claim = store.leases.claim("policy:media", "b", TTL)
    assert claim.fence is None
    assert claim.holder == "a"
    assert timedelta(seconds=25) < claim.remaining <= TTL
    assert store.leases.get("policy:media").holder == "a"


def test_an_expired_lease_goes_to_the_next_claimant_with_a_larger_token(store, backend):
    first = store.leases.claim("policy:media", "a", TTL).fence
    _expire(backend, "policy:media")
    second = store.leases.claim("policy:media", "b", TTL).fence
    assert second is not None and first is not None
    assert second.token > first.token
    assert store.leases.get("policy:media").holder == "b"


def test_tokens_only_grow_across_release_and_reclaim(store):
    tokens = []
    for holder in ("a", "a", "b", "a"):
        fence = store.leases.claim("validate:prod", holder, TTL).fence
        assert fence is not None
        tokens.append(fence.token)
        assert store.leases.release(fence)
    assert tokens == sorted(set(tokens)) and len(tokens) == 4
    assert store.leases.held() == []  # released leases are expired, not deleted
    assert store.leases.get("validate:prod").token == tokens[-1]


def test_a_reclaim_by_the_same_holder_stops_its_older_fence(store):
    old = store.leases.claim("policy:media", "a", TTL).fence
    new = store.leases.claim("policy:media", "a", TTL).fence
    assert old is not None and new is not None
    store.leases.check(new)
    with pytest.raises(LeaseLost, match="token 1 is stale, a holds token 2"):
        store.leases.check(old)


def test_renew_extends_only_a_live_lease_with_the_newest_token(store, backend):
    fence = store.leases.claim("policy:media", "a", timedelta(seconds=5)).fence
    assert fence is not None
    store.leases.renew(fence, timedelta(minutes=10))
    assert store.leases.get("policy:media").remaining > timedelta(minutes=9)
    _expire(backend, "policy:media")
    with pytest.raises(LeaseLost, match="expired"):
        store.leases.renew(fence, TTL)
    assert not store.leases.get("policy:media").alive  # an expired lease is not revived


def test_expiry_is_measured_by_the_database_clock(store):
    fence = store.leases.claim("outbox", "a", timedelta(milliseconds=300)).fence
    assert fence is not None
    store.leases.check(fence)
    time.sleep(0.6)
    with pytest.raises(LeaseLost, match="expired"):
        store.leases.check(fence)
    assert store.leases.claim("outbox", "b", TTL).fence == Fence("outbox", 2)


def test_release_of_a_lost_lease_changes_nothing(store, backend):
    fence = store.leases.claim("policy:media", "a", TTL).fence
    assert fence is not None
    _expire(backend, "policy:media")
    taken = store.leases.claim("policy:media", "b", TTL).fence
    assert not store.leases.release(fence)
    assert store.leases.get("policy:media").holder == "b"
    assert taken is not None
    store.leases.check(taken)


def _rotation(store, fence):
    return store.rotations.begin("media", "r1", "OLD", "rotator-media-r1", GRANTS, fence=fence)


def test_fenced_rotation_writes_go_through_while_the_lease_holds(store):
    fence = store.leases.claim("policy:media", "a", TTL).fence
    record = _rotation(store, fence)
    store.rotations.record_created(record, "NEW", Secret("s" * 40), fence=fence)
    record = store.rotations.get("r1")
    store.rotations.record_state(record, "pushing", fence=fence)
    store.rotations.record_sink(record, "app", "confirmed", {}, fence=fence)
    store.rotations.promote(store.rotations.get("r1"), timedelta(hours=1), fence=fence)
    store.rotations.record_revoke("media", "OLD", fence=fence)
    assert store.rotations.get("r1").state == "succeeded"
    assert store.rotations.policy_keys("media").previous_access_key is None


def test_every_fenced_write_is_refused_once_another_replica_took_over(store, backend):
    stale = store.leases.claim("policy:media", "a", TTL).fence
    assert stale is not None
    record = _rotation(store, stale)
    store.rotations.record_created(record, "NEW", Secret("s" * 40), fence=stale)
    record = store.rotations.get("r1")
    _expire(backend, "policy:media")
    successor = store.leases.claim("policy:media", "b", TTL).fence
    assert successor is not None
    before = backend.sql("SELECT state, updated_at FROM rotations")
    history = len(list(store.history.page(limit=1000)))
    writes = [
        lambda: store.rotations.record_state(record, "pushing", fence=stale),
        lambda: store.rotations.record_created(record, "OTHER", Secret("t" * 40), fence=stale),
        lambda: store.rotations.record_sink(record, "app", "confirmed", {}, fence=stale),
        lambda: store.rotations.promote(record, timedelta(hours=1), fence=stale),
        lambda: store.rotations.abandon(record, "late", fence=stale),
        lambda: store.rotations.record_revoke("media", "OLD", fence=stale),
    ]
    for write in writes:
        with pytest.raises(LeaseLost, match="lease lost on policy:media: token 1 is stale"):
            write()
    assert backend.sql("SELECT state, updated_at FROM rotations") == before
    assert backend.sql("SELECT count(*) FROM rotation_sinks") == [(0,)]
    assert len(list(store.history.page(limit=1000))) == history
    store.rotations.record_state(record, "pushing", fence=successor)  # the successor writes
    assert store.rotations.get("r1").state == "pushing"


def test_a_rotation_cannot_begin_under_a_lost_lease(store, backend):
    fence = store.leases.claim("policy:media", "a", TTL).fence
    _expire(backend, "policy:media")
    with pytest.raises(LeaseLost):
        _rotation(store, fence)
    assert store.rotations.in_flight("media") is None


def test_lease_lost_is_a_store_error_with_one_line(store):
    with pytest.raises(StoreError) as caught:
        store.leases.check(Fence("policy:ghost", 7))
    assert isinstance(caught.value, LeaseLost)
    assert "\n" not in str(caught.value)
    assert "has no lease" in str(caught.value)


def test_replicas_heartbeat_lists_and_forgets(store, backend):
    store.leases.beat("r-a", host="node-1", pid=10, version="1.0")
    store.leases.beat("r-b", host="node-2", pid=20, version="1.0")
    store.leases.beat("r-a", host="node-1", pid=10, version="1.1")
    store.leases.lost("r-b")
    replicas = {r.id: r for r in store.leases.replicas()}
    assert set(replicas) == {"r-a", "r-b"}
    assert replicas["r-a"].version == "1.1"
    assert replicas["r-b"].leases_lost == 1
    assert set(replicas["r-a"].to_json()) >= {"id", "host", "pid", "version", "last_seen"}
    backend.sql("UPDATE replicas SET last_seen = last_seen - 3600000 WHERE id = 'r-b'")
    assert [r.id for r in store.leases.replicas(seen_within=timedelta(minutes=5))] == ["r-a"]
    assert store.leases.prune_replicas(timedelta(minutes=30)) == 1
    store.leases.forget("r-a")
    assert store.leases.replicas() == []
