"""The fake cluster itself: its schema checks can fail, and it behaves like an API server."""

from __future__ import annotations

import httpx
import pytest

from tests.sinks.kubernetes_support import NAMESPACE, TOKEN, cluster
from tests.support.fake_kubernetes import Schemas

__all__ = ["cluster"]


def client(cluster, token=TOKEN):
    import ssl

    context = ssl.create_default_context(cadata=cluster.ca_pem.decode())
    return httpx.Client(
        base_url=cluster.url,
        verify=context,
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
    )


def test_the_schemas_reject_what_kubernetes_would():
    schemas = Schemas()
    assert (
        schemas.errors("Secret", {"apiVersion": "v1", "kind": "Secret", "data": {"k": "dg=="}})
        == []
    )
    assert schemas.errors("Secret", {"kind": "Secret", "data": {"k": 5}})
    assert schemas.errors("Secret", {"kind": "Secret", "stringdata": {}})  # misspelt field
    assert schemas.errors("Deployment", {"kind": "Deployment", "spec": {"replicas": "2"}})


def test_a_bad_request_body_is_refused_and_recorded(cluster):
    with client(cluster) as http:
        answer = http.post(
            f"/api/v1/namespaces/{NAMESPACE}/secrets",
            json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "datta": {}},
        )
    assert answer.status_code == 422
    assert answer.json()["kind"] == "Status"
    assert any("datta" in violation for violation in cluster.violations)
    cluster.violations.clear()  # recorded on purpose; the fixture checks the rest


def test_an_unknown_token_is_401_and_a_missing_rule_is_403(cluster):
    with client(cluster, "nobody") as http:
        assert http.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/x").status_code == 401
    cluster.grant("narrow", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    with client(cluster, "narrow") as http:
        answer = http.patch(
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/web",
            json={},
            headers={"Content-Type": "application/merge-patch+json"},
        )
    assert answer.status_code == 403
    assert 'cannot patch resource "deployments" in API group "apps"' in answer.json()["message"]


def test_a_stale_resource_version_is_a_conflict(cluster):
    created = cluster.add_secret(NAMESPACE, "s", {"a": "1"})
    cluster.add_secret(NAMESPACE, "s", {"a": "2"})
    with client(cluster) as http:
        answer = http.patch(
            f"/api/v1/namespaces/{NAMESPACE}/secrets/s",
            json={"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
    assert answer.status_code == 409
    assert cluster.secret_data(NAMESPACE, "s") == {"a": "2"}


@pytest.mark.parametrize("mode", ["normal", "stuck"])
def test_a_template_change_bumps_the_generation_and_rolls_out_over_reads(cluster, mode):
    cluster.add_workload("Deployment", NAMESPACE, "app", mode=mode)
    path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/app"
    patch = {"spec": {"template": {"metadata": {"annotations": {"x": "1"}}}}}
    with client(cluster) as http:
        http.patch(
            path, json=patch, headers={"Content-Type": "application/strategic-merge-patch+json"}
        )
        reads = [http.get(path).json() for _ in range(4)]
    assert reads[0]["metadata"]["generation"] == 2
    assert reads[0]["status"]["updatedReplicas"] == 1
    done = reads[-1]["status"]["updatedReplicas"] == reads[-1]["spec"]["replicas"]
    assert done is (mode == "normal")
