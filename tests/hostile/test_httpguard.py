"""rotator.httpguard against a real peer (the sandbox behind the hostile proxy)."""

from __future__ import annotations

import gzip
import json
import threading

import httpx
import pytest

from rotator.httpguard import (
    BodyTooLarge,
    Cancelled,
    Deadline,
    DeadlineExceeded,
    bounded,
    fetch,
    guarded_client,
)
from tests.support.proxy import HostileProxy


@pytest.fixture
def token(sandbox) -> str:
    return sandbox.add_token(["account:read"])


def account(http: httpx.Client, proxy: HostileProxy, token: str, **options) -> httpx.Response:
    request = http.build_request(
        "GET", f"{proxy.url}/v2/account", headers={"Authorization": f"Bearer {token}"}
    )
    options.setdefault("deadline", Deadline(1.5))
    return fetch(http, request, **options)


@pytest.mark.parametrize("make_http", [httpx.Client, guarded_client])
def test_an_honest_answer_comes_back_whole_and_readable(proxy, token, make_http) -> None:
    with make_http() as http:
        response = account(http, proxy, token)

    assert response.status_code == 200
    assert response.json()["account"]["email"]
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("make_http", [httpx.Client, guarded_client])
def test_a_body_dripped_a_byte_at_a_time_ends_at_the_deadline(proxy, token, make_http) -> None:
    proxy.add("drip", interval=0.2)

    with make_http() as http, pytest.raises(DeadlineExceeded, match=r"within 1\.5s"):
        account(http, proxy, token, timeout=1.0)


def test_headers_dripped_a_byte_at_a_time_end_at_the_deadline_with_a_guarded_client(
    proxy, token
) -> None:
    proxy.add("drip_headers", interval=0.2)

    with guarded_client() as http, pytest.raises(DeadlineExceeded):
        account(http, proxy, token, timeout=1.0)


def test_a_stalled_peer_ends_at_the_deadline_even_with_a_longer_read_timeout(proxy, token) -> None:
    proxy.add("stall")

    with guarded_client() as http, pytest.raises(DeadlineExceeded):
        account(http, proxy, token, timeout=30.0)


@pytest.mark.parametrize("declare", [False, True])
@pytest.mark.parametrize("make_http", [httpx.Client, guarded_client])
def test_a_body_over_the_cap_is_refused(proxy, token, make_http, declare) -> None:
    proxy.add("oversized", size=5 * 1024 * 1024, declare=declare)

    with make_http() as http, pytest.raises(BodyTooLarge, match="larger than 1 MiB"):
        account(http, proxy, token, max_body=1024 * 1024, deadline=Deadline(30))


def test_an_enclosing_deadline_that_ends_sooner_wins(proxy, token) -> None:
    proxy.add("drip", interval=0.2)

    with (
        guarded_client() as http,
        bounded(Deadline(1.0)),
        pytest.raises(DeadlineExceeded, match="within 1s"),
    ):
        account(http, proxy, token, deadline=Deadline(60))


def test_a_compressed_answer_is_decoded_and_its_wire_headers_dropped() -> None:
    document = {"account": {"email": "sammy@example.com"}}

    def handler(request: httpx.Request) -> httpx.Response:
        body = gzip.compress(json.dumps(document).encode())
        return httpx.Response(200, content=body, headers={"content-encoding": "gzip"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        request = http.build_request("GET", "http://peer.invalid/x")
        response = fetch(http, request, deadline=Deadline(5))

    assert response.json() == document
    assert "content-encoding" not in response.headers


def test_a_cap_counts_the_decoded_bytes_of_a_compressed_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        bomb = gzip.compress(b" " * (4 * 1024 * 1024))  # about 4 KiB on the wire
        return httpx.Response(200, content=bomb, headers={"content-encoding": "gzip"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        request = http.build_request("GET", "http://peer.invalid/x")
        with pytest.raises(BodyTooLarge):
            fetch(http, request, deadline=Deadline(5), max_body=64 * 1024)


@pytest.mark.parametrize("seconds", [0, -1, float("nan")])
def test_a_deadline_needs_a_positive_number_of_seconds(seconds: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Deadline(seconds)


def test_within_keeps_the_sooner_of_two_deadlines() -> None:
    now = [100.0]
    outer = Deadline(10, clock=lambda: now[0])

    assert outer.within(30) is outer
    inner = outer.within(2)
    assert inner.remaining() == pytest.approx(2)
    now[0] += 3
    assert inner.expired() and not outer.expired()


@pytest.mark.parametrize("mode", ["stall", "drip_headers", "drip"])
def test_a_cancelled_request_ends_without_waiting_for_its_deadline(proxy, token, mode) -> None:
    proxy.add(mode, interval=0.2)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()

    with guarded_client() as http, pytest.raises(Cancelled, match="stopping"):
        account(http, proxy, token, deadline=Deadline(120, cancelled=stop.is_set), timeout=60)


def test_a_request_already_cancelled_is_never_sent(proxy, token) -> None:
    with guarded_client() as http, pytest.raises(Cancelled):
        account(http, proxy, token, deadline=Deadline(5, cancelled=lambda: True))

    assert proxy.seen == []


def test_the_sooner_of_two_deadlines_is_cancelled_by_either() -> None:
    first, second = threading.Event(), threading.Event()
    merged = Deadline(5, cancelled=first.is_set).sooner(Deadline(9, cancelled=second.is_set))

    assert merged.remaining() <= 5 and not merged.is_cancelled()
    second.set()
    assert merged.is_cancelled()
