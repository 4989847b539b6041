"""Fixtures for the sandbox's own tests: clients that carry a token, and a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from rotator.sandbox import Sandbox
from tests.support.clock import FakeClock

MakeClient = Callable[..., httpx.Client]


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(1_800_000_000.0)


@pytest.fixture
def client_for(sandbox: Sandbox) -> Iterator[MakeClient]:
    """Build httpx clients: ``client_for(scopes)``, ``client_for(token=...)``, ``target=box``.

    Every client is closed at teardown (warnings are errors in this suite).
    """
    clients: list[httpx.Client] = []

    def make(
        scopes: list[str] | None = None,
        *,
        token: str | None = None,
        target: Sandbox | None = None,
    ) -> httpx.Client:
        box = target or sandbox
        if token is None and scopes is not None:
            token = box.add_token(scopes)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=box.url, headers=headers, timeout=10)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
