"""The contract every registered sink keeps, checked against its real destination.

A new sink type fails here until it has a harness below: a way to build it
against a real server and to read what that server truly serves, an example
``[[policies.sinks]]`` table, and a way to point it at any URL (for the
hostile servers that prove no third-party exception leaves it untranslated).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.digitalocean.scopes import SPACES_ROTATION_SCOPES, required_scopes
from rotator.errors import RotatorError, SinkError
from rotator.secret import Secret
from rotator.settings import parse_config
from rotator.sinks import SINK_TYPES, SINKS, SinkDeps
from rotator.sinks.app_platform import AppPlatformSinkConfig
from rotator.sinks.base import Confirmation, PushContext, Sink, SinkConfig
from rotator.sinks.file import FileSinkConfig
from rotator.sinks.github_actions import GitHubActionsSinkConfig
from rotator.sinks.kubernetes import KubernetesSinkConfig
from rotator.sinks.vault import VaultSinkConfig
from tests.hostile import HOSTILE, hostile_server
from tests.sinks.kubernetes_support import (  # noqa: F401 (fixtures)
    NAMESPACE,
    SECRET,
    clock,
    cluster,
    make_k8s_sink,
)
from tests.sinks.vault_support import new_pair


@dataclass
class Harness:
    """A sink wired to a real destination, and that destination's truth."""

    sink: Sink
    served: Callable[[], tuple[str, str] | None]  # (access key, secret) as served now


def app_platform_harness(request: pytest.FixtureRequest) -> Harness:
    sandbox = request.getfixturevalue("sandbox")
    app_id = sandbox.app_ids()[0]
    sink = request.getfixturevalue("make_app_sink")(app_id, component="web")

    def served() -> tuple[str, str] | None:
        env = sandbox.app_running_env(app_id, "web")
        return env.get("SPACES_KEY"), env.get("SPACES_SECRET")

    return Harness(sink, served)


def vault_harness(request: pytest.FixtureRequest) -> Harness:
    vault = request.getfixturevalue("vault")
    kv_path = request.getfixturevalue("kv_path")
    sink = request.getfixturevalue("make_sink")()

    def served() -> tuple[str, str] | None:
        current = vault.read("secret", kv_path)
        if current is None:
            return None
        return current["data"]["access_key"], current["data"]["secret_key"]

    return Harness(sink, served)


def file_harness(request: pytest.FixtureRequest) -> Harness:
    world = request.getfixturevalue("file_world")
    return Harness(world.sink(), world.served)


def kubernetes_harness(request: pytest.FixtureRequest) -> Harness:
    fake = request.getfixturevalue("cluster")
    sink = request.getfixturevalue("make_k8s_sink")()

    def served() -> tuple[str, str] | None:
        data = fake.secret_data(NAMESPACE, SECRET)
        if data is None:
            return None
        return data["SPACES_ACCESS_KEY"], data["SPACES_SECRET_KEY"]

    return Harness(sink, served)


def github_actions_harness(request: pytest.FixtureRequest) -> Harness:
    github = request.getfixturevalue("github")
    sink = request.getfixturevalue("make_github_sink")()

    def served() -> tuple[str, str] | None:
        pair = (
            github.value("acme/app", "SPACES_ACCESS_KEY"),
            github.value("acme/app", "SPACES_SECRET_KEY"),
        )
        return None if pair == (None, None) else pair

    return Harness(sink, served)


HARNESSES: dict[str, Callable[[pytest.FixtureRequest], Harness]] = {
    "app_platform": app_platform_harness,
    "vault": vault_harness,
    "file": file_harness,
    "kubernetes": kubernetes_harness,
    "github_actions": github_actions_harness,
}


@pytest.fixture(params=sorted(SINK_TYPES))
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param not in HARNESSES:
        pytest.fail(f"sink type {request.param!r} has no contract harness in {__file__}")
    return HARNESSES[request.param](request)


@pytest.fixture
def context() -> PushContext:
    from datetime import UTC, datetime

    return PushContext("media", "contract-0001", datetime(2026, 11, 23, tzinfo=UTC))


def test_every_registered_sink_type_has_a_harness():
    assert set(SINK_TYPES) <= set(HARNESSES)


def test_check_and_describe_change_nothing_and_show_no_secret(harness, context):
    pair = new_pair()
    before = harness.served()
    harness.sink.check()
    lines = harness.sink.describe_push(pair.access_key, context)
    assert lines and all(isinstance(line, str) for line in lines)
    assert any(pair.access_key in line for line in lines)
    assert harness.served() == before


def test_a_push_is_confirmed_only_once_the_destination_serves_the_pair(harness, context):
    pair = new_pair()
    confirmation = harness.sink.push(pair, context)
    assert isinstance(confirmation, Confirmation)
    assert confirmation.sink == harness.sink.label
    assert harness.served() == (pair.access_key, pair.secret_key.reveal())
    assert pair.secret_key.reveal() not in repr(confirmation)
    assert harness.sink.holds() in (None, pair.access_key)


def test_a_push_can_be_repeated_after_a_crash_and_a_new_pair_replaces_the_old(harness, context):
    first, second = new_pair(), new_pair()
    harness.sink.push(first, context)
    harness.sink.push(first, context)  # a resumed rotation pushes the same pair again
    assert harness.served() == (first.access_key, first.secret_key.reveal())
    harness.sink.push(second, context)
    assert harness.served() == (second.access_key, second.secret_key.reveal())
    assert first.secret_key.reveal() not in repr(harness.sink)


# -- the plugin's shape: one list, one config model, one type name -------------------

EXAMPLE_TABLES: dict[str, dict[str, Any]] = {
    "app_platform": {
        "type": "app_platform",
        "app_id": "6d3b0c1e-0000-4000-8000-000000000000",
        "component": "web",
        "access_key_env": "SPACES_KEY",
        "secret_key_env": "SPACES_SECRET",
    },
    "vault": {
        "type": "vault",
        "url": "http://127.0.0.1:8200",
        "mount": "secret",
        "path": "media/spaces",
        "token_file": "/run/credentials/rotator.service/vault-token",
    },
    "file": {
        "type": "file",
        "path": "/etc/myapp/spaces.env",
        "reload": ["systemctl", "reload", "myapp"],
        "check": "http://127.0.0.1:8080/healthz?key={access_key}",
    },
    "kubernetes": {
        "type": "kubernetes",
        "namespace": "media",
        "secret": "app-spaces",
        "restart": ["deployment/web"],
        "in_cluster": True,
    },
    "github_actions": {
        "type": "github_actions",
        "repository": "acme/app",
        "environment": "production",
        "token_file": "/run/credentials/rotator.service/github-token",
    },
}


@pytest.mark.parametrize("sink_class", SINKS, ids=lambda sink: sink.type)
def test_a_sink_class_names_its_config_model_and_the_settings_accept_its_table(sink_class):
    assert SINK_TYPES[sink_class.type] is sink_class
    assert issubclass(sink_class.Config, SinkConfig)
    assert typing.get_args(sink_class.Config.model_fields["type"].annotation) == (sink_class.type,)
    table = EXAMPLE_TABLES[sink_class.type]
    policy = {"name": "media", "connection": "prod", "spaces_key": "DO00X", "sinks": [table]}
    [config] = parse_config({"policies": [policy]}).policies[0].sinks
    assert type(config) is sink_class.Config
    assert config.label.startswith(f"{sink_class.type}:")
    for where, path in config.files("here"):
        assert where.startswith("here.") and where.endswith(("_file", "_cert"))
        assert str(path).startswith("/run/credentials/")


@pytest.mark.parametrize("sink_class", SINKS, ids=lambda sink: sink.type)
def test_the_scope_audit_requires_what_each_sink_needs_of_the_token(sink_class):
    table = EXAMPLE_TABLES[sink_class.type]
    policy = {"name": "media", "connection": "prod", "spaces_key": "DO00X", "sinks": [table]}
    policies = parse_config({"policies": [policy]}).policies
    needed = required_scopes("prod", policies)
    assert sink_class.Config.digitalocean_scopes <= needed
    assert needed - sink_class.Config.digitalocean_scopes == required_scopes("prod", []) | (
        SPACES_ROTATION_SCOPES
    )


def test_a_table_of_an_unregistered_type_names_the_registered_ones():
    policy = {"name": "m", "connection": "p", "spaces_key": "K", "sinks": [{"type": "ftp"}]}
    with pytest.raises(RotatorError) as caught:
        parse_config({"policies": [policy]})
    for name in SINK_TYPES:
        assert name in str(caught.value)


# -- hostile servers: every failure is a SinkError --------------------------------------


@pytest.fixture(params=sorted(HOSTILE))
def hostile_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with hostile_server(request.param) as url:
        yield url


def _app_platform_at(url: str, stack: list[Callable[[], None]]) -> Sink:
    client = DigitalOceanClient(
        Secret("dop_v1_" + "0" * 64),
        api_url=url,
        oauth_url=url,
        timeout=2.0,
        retry=RetryPolicy(attempts=1),
    )
    stack.append(client.close)
    config = AppPlatformSinkConfig.model_validate(
        {**EXAMPLE_TABLES["app_platform"], "deploy_timeout": timedelta(seconds=0.2)}
    )
    return config.build(SinkDeps(digitalocean=client, poll_interval=0.02))


def _vault_at(url: str, stack: list[Callable[[], None]]) -> Sink:
    table = {**EXAMPLE_TABLES["vault"], "url": url, "timeout": timedelta(seconds=2)}
    del table["token_file"]
    config = VaultSinkConfig.model_validate({**table, "token": "s.hostile-test-token"})
    return config.build(SinkDeps(policy="media"))


def _file_at(url: str, stack: list[Callable[[], None]]) -> Sink:
    # The server a file sink talks to is its consumer's check URL.
    directory = Path(tempfile.mkdtemp(prefix="rotator-file-sink-"))
    stack.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    table = {
        **EXAMPLE_TABLES["file"],
        "path": str(directory / "app.env"),
        "check": url + "/key?expect={access_key}",
        "check_timeout": timedelta(seconds=0.3),
    }
    del table["reload"]
    return FileSinkConfig.model_validate(table).build(SinkDeps(poll_interval=0.05))


def _kubernetes_at(url: str, stack: list[Callable[[], None]]) -> Sink:
    directory = tempfile.TemporaryDirectory(prefix="k8s-contract-")
    stack.append(directory.cleanup)
    kubeconfig = Path(directory.name) / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "clusters": [{"name": "c", "cluster": {"server": url}}],
                "users": [{"name": "u", "user": {"token": "k8s-hostile-test-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    table = {**EXAMPLE_TABLES["kubernetes"], "timeout": timedelta(seconds=2)}
    del table["in_cluster"]
    config = KubernetesSinkConfig.model_validate(
        {**table, "kubeconfig": str(kubeconfig), "rollout_timeout": timedelta(seconds=0.2)}
    )
    return config.build(SinkDeps(policy="media", poll_interval=0.02))


def _github_actions_at(url: str, stack: list[Callable[[], None]]) -> Sink:
    handle, name = tempfile.mkstemp(prefix="rotator-github-token-")
    os.write(handle, b"github_pat_" + b"0" * 40 + b"\n")
    os.close(handle)
    stack.append(lambda: os.unlink(name))
    table = {**EXAMPLE_TABLES["github_actions"], "api_url": url, "token_file": name}
    config = GitHubActionsSinkConfig.model_validate({**table, "timeout": timedelta(seconds=2)})
    return config.build(SinkDeps(policy="media"))


# How to point each sink type at a server by URL; None says, on purpose, that
# the type talks to no server (a local file), so the hostile servers do not apply.
AT_URL: dict[str, Callable[[str, list[Callable[[], None]]], Sink] | None] = {
    "app_platform": _app_platform_at,
    "vault": _vault_at,
    "file": _file_at,
    "kubernetes": _kubernetes_at,
    "github_actions": _github_actions_at,
}


def _at_url(kind: str, url: str, closers: list[Callable[[], None]]) -> Sink:
    build = AT_URL[kind]
    if build is None:
        pytest.skip(f"sink type {kind!r} talks to no server")
    return build(url, closers)


def test_every_registered_sink_type_can_be_pointed_at_a_hostile_server():
    assert set(SINK_TYPES) <= set(AT_URL) and set(SINK_TYPES) <= set(EXAMPLE_TABLES)


@pytest.mark.parametrize("kind", sorted(SINK_TYPES))
def test_no_third_party_exception_leaves_a_sink_untranslated(kind, hostile_url, context):
    closers: list[Callable[[], None]] = []
    sink = _at_url(kind, hostile_url, closers)
    pair = new_pair()
    calls: dict[str, Callable[[], object]] = {
        "check": sink.check,
        "describe_push": lambda: sink.describe_push(pair.access_key, context),
        "push": lambda: sink.push(pair, context),
        "holds": sink.holds,
    }
    try:
        for name, call in calls.items():
            try:
                call()
            except SinkError as error:  # the only way a sink may fail
                assert error.sink == sink.label, name
                assert pair.secret_key.reveal() not in str(error)
                assert "\n" not in str(error)
            # Anything else (httpx, KeyError, ValueError...) fails this test.
    finally:
        sink.close()
        for close in closers:
            close()


@pytest.mark.parametrize("kind", sorted(SINK_TYPES))
def test_an_unreachable_destination_is_a_transient_sink_error(kind, context):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    closers: list[Callable[[], None]] = []
    sink = _at_url(kind, url, closers)
    try:
        with pytest.raises(SinkError) as caught:
            sink.check()
        assert caught.value.transient
        with pytest.raises(SinkError) as pushed:
            sink.push(new_pair(), context)
        assert pushed.value.transient
    finally:
        sink.close()
        for close in closers:
            close()
