"""Shared pieces for the kubernetes sink tests: a fake cluster, a sink factory, a fake clock.

No tests here; the sink tests import the fixtures from this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rotator.secret import Secret
from rotator.sinks import KeyPair, PushContext, SinkDeps
from rotator.sinks.kubernetes import KubernetesSink, KubernetesSinkConfig
from tests.support.fake_kubernetes import FakeKubernetes

REPOSITORY = Path(__file__).resolve().parents[2]
RBAC_FILE = REPOSITORY / "deploy" / "kubernetes" / "rbac.yaml"
TOKEN = "k8s-sa-token-3b9f0c7d2e4a6b8c"
NAMESPACE = "media"
SECRET = "app-spaces"
# Tests search every log, error, description and request for this.
CANARY = "canary-k8s-secret-9d1f3b5a7c9e1d3f5b7a9c1e"
NEW_ACCESS = "DO00NEWK8SACCESS0002"
NEW_PAIR = KeyPair(NEW_ACCESS, Secret(CANARY))
CONTEXT = PushContext("media", "rotation-k8s-1", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


class FakeClock:
    """``monotonic`` and ``sleep`` for SinkDeps: sleeping moves time, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def cluster() -> Iterator[FakeKubernetes]:
    """A fake cluster over TLS: namespace ``media`` with Deployment ``web``; every answer
    and request is checked against the official schemas."""
    with FakeKubernetes() as fake:
        fake.grant(TOKEN)
        fake.add_workload("Deployment", NAMESPACE, "web", replicas=2)
        yield fake
    assert fake.violations == []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


SinkFactory = Callable[..., KubernetesSink]


@pytest.fixture
def make_k8s_sink(
    cluster: FakeKubernetes, tmp_path: Path, clock: FakeClock
) -> Iterator[SinkFactory]:
    """Build a sink from config values (defaults: the fake cluster through a kubeconfig,
    ``media/app-spaces``, restart ``deployment/web``); closed at teardown."""
    built: list[KubernetesSink] = []

    def make(
        *,
        token: str = TOKEN,
        policy: str | None = "media",
        target: FakeKubernetes | None = None,
        **values: Any,
    ) -> KubernetesSink:
        fake = target or cluster
        kubeconfig = fake.kubeconfig(tmp_path / f"kubeconfig-{len(built)}", token)
        config: dict[str, Any] = {
            "type": "kubernetes",
            "namespace": NAMESPACE,
            "secret": SECRET,
            "kubeconfig": str(kubeconfig),
            "restart": ["deployment/web"],
            "rollout_timeout": timedelta(seconds=60),
        }
        config.update(values)
        deps = SinkDeps(
            policy=policy, sleep=clock.sleep, monotonic=clock.monotonic, poll_interval=5.0
        )
        sink = KubernetesSinkConfig.model_validate(config).build(deps)
        built.append(sink)
        return sink

    yield make
    for sink in built:
        sink.close()
