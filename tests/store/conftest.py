"""Fixtures for the store's tests: a fresh store on each backend (``keyring`` is shared).

``backend`` (and ``store``, built on it) run every test that takes them
twice: on SQLite in a temporary state directory and on a fresh database of
the session's throw-away PostgreSQL (skipped, with the reason, when no
PostgreSQL server is installed). ``sqlite_store`` is for what only a file
has: modes, flocks, torn and foreign files.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rotator.store import Store
from tests.support.stores import Backend, PostgresBackend, SqliteBackend


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path) -> Backend:
    if request.param == "sqlite":
        return SqliteBackend(tmp_path / "state")
    return PostgresBackend(tmp_path / "state", request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(backend, keyring) -> Iterator[Store]:
    with backend.create(keyring) as opened:
        yield opened


@pytest.fixture
def sqlite_store(tmp_path, keyring) -> Iterator[Store]:
    with Store.create(tmp_path / "state", keyring) as opened:
        yield opened
