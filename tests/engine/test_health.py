"""The health and metrics listener: loopback unless asked, the three endpoints."""

from __future__ import annotations

import httpx
import pytest

from rotator.engine.health import Endpoints, HealthServer, Heartbeat, listen_address
from rotator.errors import ConfigError
from tests.support.clock import FakeClock


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":9464", ("127.0.0.1", 9464)),
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("[::1]:9464", ("::1", 9464)),
        ("localhost:0", None),
    ],
)
def test_loopback_addresses_are_accepted(text, expected):
    host, port = listen_address(text)
    if expected is not None:
        assert (host, port) == expected
    assert host in ("127.0.0.1", "::1")


@pytest.mark.parametrize("text", ["0.0.0.0:9464", "[::]:9464", "10.1.2.3:80"])
def test_a_public_address_needs_an_explicit_yes(text):
    with pytest.raises(ConfigError, match=r"not a loopback address.*--health-public"):
        listen_address(text)
    assert listen_address(text, public=True)[1] in (9464, 80)


def test_a_malformed_address_is_a_config_error():
    with pytest.raises(ConfigError, match="expected host:port"):
        listen_address("127.0.0.1")


def test_the_endpoints_answer_and_an_unknown_path_is_404():
    ready = {"ok": True}
    server = HealthServer(
        "127.0.0.1",
        0,
        Endpoints(
            healthz=lambda: (True, "ok"),
            readyz=lambda: (ready["ok"], "ready" if ready["ok"] else "not ready: store"),
            metrics=lambda: "# TYPE up gauge\nup 1\n",
        ),
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/healthz").text == "ok\n"
            assert client.get("/readyz").status_code == 200
            ready["ok"] = False
            answer = client.get("/readyz")
            assert (answer.status_code, answer.text) == (503, "not ready: store\n")
            metrics = client.get("/metrics")
            assert metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
            assert metrics.text.endswith("up 1\n")
            assert client.get("/").status_code == 404
            assert client.head("/healthz").status_code == 200
    finally:
        server.stop()


def test_a_port_in_use_is_one_clear_error():
    first = HealthServer("127.0.0.1", 0, Endpoints(lambda: (True, ""), lambda: (True, ""), str))
    port = int(first.url.rsplit(":", 1)[1])
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            HealthServer("127.0.0.1", port, Endpoints(lambda: (True, ""), lambda: (True, ""), str))
    finally:
        first.stop()


def test_a_loop_idling_as_planned_is_never_late_and_a_silent_one_is():
    clock = FakeClock(1000.0)
    heartbeat = Heartbeat(clock.seconds)
    heartbeat.idle(600)
    clock.advance(590)
    assert heartbeat.overdue() == 0
    clock.advance(20)
    assert heartbeat.overdue() == 10
    heartbeat.beat()
    assert heartbeat.overdue() == 0
    clock.advance(301)
    assert heartbeat.overdue() == 301


def test_healthz_turns_503_once_the_loop_is_later_than_stale_after_and_recovers():
    clock = FakeClock(1000.0)
    heartbeat = Heartbeat(clock.seconds)
    server = HealthServer(
        "127.0.0.1",
        0,
        Endpoints(lambda: (True, "ok"), lambda: (True, "ready"), str),
        heartbeat=heartbeat,
        stale_after=300,
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            clock.advance(300)
            assert client.get("/healthz").status_code == 200
            clock.advance(1)
            answer = client.get("/healthz")
            assert answer.status_code == 503
            assert answer.text == (
                "unhealthy: the main loop is 301s late (daemon.stale_after is 300s)\n"
            )
            assert client.head("/healthz").status_code == 503
            heartbeat.beat()
            assert client.get("/healthz").text == "ok\n"
    finally:
        server.stop()


def test_a_metrics_page_that_cannot_be_rendered_is_a_500_not_a_dropped_connection():
    def broken() -> str:
        raise RuntimeError("a bug")

    server = HealthServer("127.0.0.1", 0, Endpoints(lambda: (True, ""), lambda: (True, ""), broken))
    server.start()
    try:
        answer = httpx.get(f"{server.url}/metrics")
        assert answer.status_code == 500
        assert "a bug" not in answer.text
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()
