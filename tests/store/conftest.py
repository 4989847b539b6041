"""Fixtures for the store's tests: a keyring and a fresh store on disk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from store_support import ring

from rotator.crypto import Keyring
from rotator.store import Store


@pytest.fixture
def keyring() -> Keyring:
    return ring()


@pytest.fixture
def store(tmp_path, keyring) -> Iterator[Store]:
    with Store.create(tmp_path / "state", keyring) as opened:
        yield opened
