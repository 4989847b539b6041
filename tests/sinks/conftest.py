"""Sink fixtures: real OpenBao dev servers, unique KV paths, Vault sinks built from config,
App Platform sinks on the sandbox, and plain clients acting as someone else."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.sandbox import Sandbox
from rotator.sandbox.openbao import OpenBao
from rotator.secret import Secret
from rotator.sinks import KeyPair, PushContext, SinkDeps, build_sink
from rotator.sinks.app_platform import AppPlatformSink, AppPlatformSinkConfig
from rotator.sinks.vault import VaultSink, VaultSinkConfig
from tests.sinks.app_platform_support import APP_SCOPES, MakeAppSink
from tests.sinks.github_support import github, make_github_sink, token_file  # noqa: F401
from tests.sinks.vault_support import KV1_MOUNT, STRICT_MOUNT, new_pair


@pytest.fixture(scope="session")
def vault(bao_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """One dev server for the session; tests keep apart by using their own paths."""
    server = OpenBao(bao_binary, tmp_path_factory.mktemp("bao")).start()
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
def fresh_vault(bao_binary: Path, tmp_path: Path) -> Iterator[OpenBao]:
    """A dev server of this test's own, for tests that break it (sealing)."""
    server = OpenBao(bao_binary, tmp_path / "bao").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_vault(bao_binary: Path, tmp_path: Path) -> Iterator[OpenBao]:
    """A dev server behind TLS with its own generated CA (``server.ca_cert``)."""
    server = OpenBao(bao_binary, tmp_path / "bao", tls=True).start()
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
def make_sink(vault: OpenBao, kv_path: str) -> Iterator[SinkFactory]:
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


@pytest.fixture
def make_app_sink(sandbox: Sandbox) -> Iterator[MakeAppSink]:
    """``make_app_sink(app_id, component=..., scopes=..., **deps)``: a sink from the registry.

    Deployments take 0.15 s in the sandbox fixture, so polls are every 20 ms
    and every wait is bounded by a few seconds.
    """
    clients: list[DigitalOceanClient] = []

    def make(
        app_id: str,
        *,
        component: str | None = "web",
        scopes: list[str] | None = None,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        target: Sandbox | None = None,
        deploy_timeout: float = 5.0,
        **deps: Any,
    ) -> AppPlatformSink:
        box = target or sandbox
        client = DigitalOceanClient(
            Secret(box.add_token(APP_SCOPES if scopes is None else scopes)),
            api_url=box.url,
            oauth_url=box.url,
            http=http,
            retry=retry or RetryPolicy(base_delay=0.01, max_delay=0.05),
        )
        clients.append(client)
        config = AppPlatformSinkConfig(
            type="app_platform",
            app_id=app_id,
            component=component,
            access_key_env="SPACES_KEY",
            secret_key_env="SPACES_SECRET",
            deploy_timeout=timedelta(seconds=deploy_timeout),
        )
        options: dict[str, Any] = {"poll_interval": 0.02, **deps}
        sink = build_sink(config, SinkDeps(digitalocean=client, **options))
        assert isinstance(sink, AppPlatformSink)
        return sink

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api_for(sandbox: Sandbox) -> Iterator[Callable[[Sandbox | None], httpx.Client]]:
    """Plain httpx clients with an app token, to act as someone else on the same app."""
    made: list[httpx.Client] = []

    def make(box: Sandbox | None = None) -> httpx.Client:
        target = box or sandbox
        token = target.add_token(APP_SCOPES)
        client = httpx.Client(
            base_url=target.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
