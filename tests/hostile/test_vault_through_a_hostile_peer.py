"""The Vault sink when the peer in front of a real OpenBao drips, stalls or floods.

Every request to Vault has one total deadline (the sink's ``timeout``), headers
included, and a body cap; and a stop request (the daemon's flag, carried by
:func:`rotator.httpguard.bounded`) ends a request under way whatever the peer
does. Each failure is one SinkError line naming the server; nothing is
written. A generous thread join only fails a hung request; no timing assertion
(the one-second wait below only proves the peer holds the push, whichever way).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from rotator import httpguard
from rotator.engine.pool import WorkerPool
from rotator.errors import SinkError
from rotator.sandbox.openbao import OpenBao
from rotator.secret import Secret
from rotator.sinks import KeyPair, SinkDeps
from rotator.sinks.base import PushContext
from rotator.sinks.vault import VaultSink, VaultSinkConfig
from tests.support.proxy import HostileProxy

pytestmark = pytest.mark.timeout(120)

HUNG = 60  # seconds: only a request that ignores its deadline or the stop gets near it
PATH = "hostile/spaces"
PAIR = KeyPair("DO00HOSTILEPEER0001", Secret("hostile-peer-secret-5e1f"))
CONTEXT = PushContext(
    policy="media", rotation_id="r-0001", rotated_at=datetime(2026, 1, 2, tzinfo=UTC)
)


@pytest.fixture
def peer(bao: OpenBao) -> Iterator[HostileProxy]:
    with HostileProxy(bao.url) as proxy:
        yield proxy


def vault_sink(peer: HostileProxy, bao: OpenBao, timeout: float) -> VaultSink:
    config = {
        "type": "vault",
        "url": peer.url,
        "path": PATH,
        "token": bao.root_token,
        "timeout": timedelta(seconds=timeout),
    }
    return VaultSinkConfig.model_validate(config).build(SinkDeps())


def push_in_thread(
    sink: VaultSink, cancelled: threading.Event | None = None
) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def push() -> None:
        try:
            if cancelled is None:
                sink.push(PAIR, CONTEXT)
            else:
                with httpguard.bounded(httpguard.Deadline(3600, cancelled=cancelled.is_set)):
                    sink.push(PAIR, CONTEXT)
        except BaseException as exc:  # the test reads it
            raised.append(exc)

    thread = threading.Thread(target=push, daemon=True)
    thread.start()
    return thread, raised


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    assert PAIR.secret_key.reveal() not in text
    return text


@pytest.mark.parametrize(
    ("mode", "options", "says"),
    [
        ("drip_headers", {"interval": 0.5}, "did not answer within 2s"),
        ("drip", {"interval": 0.5}, "did not answer within 2s"),
        ("stall", {}, "did not answer within 2s"),
        ("oversized", {}, "at length"),
        ("oversized", {"declare": True}, "at length"),
    ],
)
def test_a_hostile_vault_is_one_clear_failure_within_the_sink_timeout(
    peer: HostileProxy, bao: OpenBao, mode: str, options: dict, says: str
) -> None:
    peer.add(mode, path="^/v1/", **options)
    sink = vault_sink(peer, bao, timeout=2)
    try:
        thread, raised = push_in_thread(sink)
        thread.join(HUNG)
        assert not thread.is_alive(), "the push outlived its deadline"
    finally:
        sink.close()
    [error] = raised
    assert isinstance(error, SinkError), repr(error)
    assert says in one_line(error)
    assert f"Vault at 127.0.0.1:{peer.url.rsplit(':', 1)[1]}" in str(error)
    assert bao.read("secret", PATH) is None


@pytest.mark.parametrize("mode", ["stall", "drip_headers", "drip"])
def test_a_stop_request_ends_a_vault_request_that_a_peer_holds(
    peer: HostileProxy, bao: OpenBao, mode: str
) -> None:
    peer.add(mode, path="^/v1/", interval=0.5)
    sink = vault_sink(peer, bao, timeout=HUNG * 2)  # the deadline alone would not end it
    stop = threading.Event()
    try:
        thread, raised = push_in_thread(sink, stop)
        deadline = datetime.now(UTC) + timedelta(seconds=HUNG)
        while not any(seen.mode == mode for seen in peer.seen) and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        assert thread.is_alive()
        stop.set()
        thread.join(HUNG)
        assert not thread.is_alive(), "the stop request did not end the push"
    finally:
        sink.close()
    [error] = raised
    assert isinstance(error, SinkError), repr(error)
    assert error.transient  # it resumes at the next start
    assert "stopping" in one_line(error)
    assert bao.read("secret", PATH) is None


def test_a_daemon_worker_pushing_to_a_stalled_vault_ends_at_the_stop(
    peer: HostileProxy, bao: OpenBao
) -> None:
    """The engine's pool carries the stop flag to every item: no item needs to know it."""
    peer.add("stall", path="^/v1/")
    sink = vault_sink(peer, bao, timeout=HUNG * 2)
    stop = threading.Event()
    pool = WorkerPool(1, cancelled=stop.is_set)
    raised: list[BaseException] = []

    def item() -> None:
        try:
            sink.push(PAIR, CONTEXT)
        except SinkError as exc:
            raised.append(exc)

    try:
        assert pool.submit("rotate", "media", item)
        assert not pool.wait(timeout=1)  # held by the peer
        stop.set()
        assert pool.shutdown(timeout=HUNG), "the stop did not end the item"
    finally:
        sink.close()
    [error] = raised
    assert error.transient
    assert "stopping" in one_line(error)
