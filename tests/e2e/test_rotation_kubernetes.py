"""`rotator rotate` into App Platform and a (fake) Kubernetes cluster, as a user runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from rotator.sinks.kubernetes import OWNER
from tests.sinks.kubernetes_support import RBAC_FILE
from tests.support.cli import ROTATION_SCOPES, media_policy
from tests.support.fake_kubernetes import FakeKubernetes

TOKEN = "k8s-e2e-token-5a7c9e1b3d5f"
NAMESPACE, SECRET = "media", "app-spaces"
OTHER = {"DATABASE_URL": "postgres://app:db-password@db/app"}


@pytest.fixture
def cluster() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as fake:
        fake.grant_role(TOKEN, RBAC_FILE)  # exactly the example RBAC
        fake.add_workload("Deployment", NAMESPACE, "web", replicas=2)
        fake.add_secret(NAMESPACE, SECRET, OTHER)
        yield fake
    assert fake.violations == []


def kubernetes_sink(
    kubeconfig: str, *, restart: str = "deployment/web", timeout: str = "2s"
) -> str:
    return f"""
[[policies.sinks]]
type = "kubernetes"
namespace = "{NAMESPACE}"
secret = "{SECRET}"
kubeconfig = "{kubeconfig}"
restart = ["{restart}"]
rollout_timeout = "{timeout}"
"""


@pytest.fixture
def media(initialised, sandbox, cluster, receiver, tmp_path):
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", TOKEN)
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text("whsec-k8s-e2e\n")
    app_id = sandbox.app_ids()[0]

    def configure(**sink: str) -> None:
        initialised.config.write_text(
            "[digitalocean]\nretries = 1\n"
            f'[[alerts]]\ntype = "webhook"\nname = "ops"\nurl = "{receiver.url}/hook"\n'
            f'secret_file = "{secret_file}"\n'
            + media_policy(app_id, more_sinks=kubernetes_sink(str(kubeconfig), **sink))
        )

    configure()
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    initialised.configure = configure
    return initialised


def secret_of(sandbox, access_key: str) -> str:
    return next(k["secret_key"] for k in sandbox.spaces_keys() if k["access_key"] == access_key)


def test_a_rotation_reaches_the_cluster_touches_only_its_keys_and_awaits_the_rollout(
    media, sandbox, cluster
):
    before = cluster.secret(NAMESPACE, SECRET)["data"]
    result = media("rotate", "media", "--json")
    assert result.code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "succeeded"
    assert [s["status"] for s in document["sinks"]] == ["confirmed", "confirmed"]
    new_key = document["new_access_key"]
    data = cluster.secret_data(NAMESPACE, SECRET)
    assert data == {
        **OTHER,
        "SPACES_ACCESS_KEY": new_key,
        "SPACES_SECRET_KEY": secret_of(sandbox, new_key),
    }
    assert cluster.secret(NAMESPACE, SECRET)["data"]["DATABASE_URL"] == before["DATABASE_URL"]
    assert cluster.secret(NAMESPACE, SECRET)["metadata"]["annotations"][OWNER] == "media"
    web = cluster.workload("deployments", NAMESPACE, "web")
    assert web["metadata"]["generation"] == 2
    assert web["status"]["observedGeneration"] == 2
    assert web["status"]["availableReplicas"] == 2
    assert secret_of(sandbox, new_key) not in result.output


def test_a_dry_run_sends_no_write_to_the_cluster(media, sandbox, cluster):
    result = media("rotate", "media", "--dry-run")
    assert result.code == 0, result.output
    assert "patch keys SPACES_ACCESS_KEY, SPACES_SECRET_KEY of Secret media/app-spaces" in (
        result.stdout
    )
    assert "restart deployment/web" in result.stdout
    assert cluster.writes() == []
    assert "db-password" not in result.output


def test_config_check_asks_the_cluster_and_writes_nothing(media, cluster):
    result = media("config", "check")
    assert result.code == 0, result.output
    assert cluster.writes() == []
    assert any("selfsubjectaccessreviews" in seen.path for seen in cluster.requests)


def test_config_check_reports_a_missing_permission(media, cluster):
    cluster.grant(TOKEN, [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    result = media("config", "check")
    assert result.code == 2
    assert "policies[0].sinks[1]" in result.stderr
    assert "may not patch secrets/app-spaces, create secrets" in result.stderr
    assert TOKEN not in result.output


def test_a_foreign_owned_secret_fails_the_rotation_and_is_left_alone(media, cluster):
    cluster.add_secret(NAMESPACE, SECRET, OTHER, labels={"app.kubernetes.io/managed-by": "Helm"})
    result = media("rotate", "media", "--json")
    assert result.code == 1
    assert "managed by 'Helm'" in result.stderr
    assert cluster.secret_data(NAMESPACE, SECRET) == OTHER


def test_a_forbidden_write_fails_the_rotation_with_a_clear_line(media, cluster):
    cluster.grant(TOKEN, [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    result = media("rotate", "media", "--json")
    assert result.code == 1
    assert "forbidden: the Kubernetes API at 127.0.0.1" in result.stderr
    assert "patch secrets/app-spaces in namespace media (403)" in result.stderr
    assert "Traceback" not in result.output


def test_an_unreachable_cluster_fails_the_rotation_and_keeps_the_old_key(media, sandbox, cluster):
    old = next(k["access_key"] for k in sandbox.spaces_keys() if k["name"] == "demo-media")
    cluster.stop()
    try:
        result = media("rotate", "media", "--json")
    finally:
        cluster.start()
    assert result.code == 1
    assert "cannot reach the Kubernetes API" in result.stderr
    status = json.loads(media("status", "--json").stdout)["policies"][0]
    assert status["current_access_key"] == old
    assert old in {k["access_key"] for k in sandbox.spaces_keys()}


def test_a_rollout_that_never_completes_keeps_the_old_key_alerts_and_resumes(
    media, sandbox, cluster, receiver
):
    old = next(k["access_key"] for k in sandbox.spaces_keys() if k["name"] == "demo-media")
    cluster.add_workload("Deployment", NAMESPACE, "stuck", mode="stuck")
    media.configure(restart="deployment/stuck", timeout="1s")
    cluster.tokens[TOKEN] = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]

    failed = media("rotate", "media", "--json")

    assert failed.code == 1, failed.output
    document = json.loads(failed.stdout)
    assert document["status"] == "failed"
    assert "rollout not complete after 1s: deployment/stuck" in failed.stderr
    new_key = document["new_access_key"]
    alive = {k["access_key"] for k in sandbox.spaces_keys()}
    assert {old, new_key} <= alive  # the old key stays valid
    status = json.loads(media("status", "--json").stdout)["policies"][0]
    assert status["current_access_key"] == old
    events = [json.loads(r.body)["event"] for r in receiver.requests]
    assert "sink_failed" in events, events

    # The operator fixes the workload; the next run resumes the same rotation.
    generation = cluster.workload("deployments", NAMESPACE, "stuck")["metadata"]["generation"]
    cluster.settle("deployments", NAMESPACE, "stuck")
    resumed = media("rotate", "media", "--json")
    assert resumed.code == 0, resumed.output
    assert json.loads(resumed.stdout)["new_access_key"] == new_key  # no third key
    after = cluster.workload("deployments", NAMESPACE, "stuck")["metadata"]["generation"]
    assert after == generation  # not restarted a second time
    assert cluster.secret_data(NAMESPACE, SECRET)["SPACES_ACCESS_KEY"] == new_key
