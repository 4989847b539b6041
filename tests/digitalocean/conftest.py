"""Fixtures for the DigitalOcean client's tests: respx in front of the API, fake time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from rotator.digitalocean.budget import RateBudget
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.secret import Secret
from tests.digitalocean.client_support import CANARY, START, MakeClient
from tests.support.clock import FakeClock


@pytest.fixture
def fake_time() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """respx in front of the API and OAuth hosts; an unmocked request fails the test."""
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def make_client(fake_time: FakeClock) -> Iterator[MakeClient]:
    """Build clients with the canary token, fake time and jitter fixed at its maximum."""
    made: list[DigitalOceanClient] = []

    def make(**overrides: object) -> DigitalOceanClient:
        options: dict[str, object] = {
            "sleep": fake_time.sleep,
            "clock": fake_time.seconds,
            "rng": lambda: 1.0,
            "retry": RetryPolicy(),
            "budget": RateBudget(),
        }
        if "pacer" in overrides:  # the old name of the budget
            del options["budget"]
        options.update(overrides)
        token = options.pop("token", Secret(CANARY))
        client = DigitalOceanClient(token, **options)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> DigitalOceanClient:
    return make_client()
