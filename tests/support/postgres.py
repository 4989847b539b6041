"""The tests' throw-away PostgreSQL (the launcher lives in :mod:`rotator.sandbox.postgres`).

The session fixture ``postgres_cluster`` starts one cluster for the whole
run; ``postgres_url`` creates a database for one test and drops it
afterwards. Without server binaries, both skip with the reason.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from rotator.sandbox.postgres import ROLE, START_SECONDS, PostgresCluster, server_bindir

__all__ = [
    "PASSWORD",
    "ROLE",
    "START_SECONDS",
    "PostgresCluster",
    "postgres_cluster",
    "postgres_url",
    "server_bindir",
]

PASSWORD = "pg-canary-" + secrets.token_hex(8)  # tests look for it in every output


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A running throw-away PostgreSQL for the whole session (skips without its binaries)."""
    bindir = server_bindir()
    if bindir is None:
        pytest.skip(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb); "
            "install the postgresql package (.ci/run does)"
        )
    cluster = PostgresCluster(bindir, password=PASSWORD)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The URL of a new, empty database for this test alone."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)
