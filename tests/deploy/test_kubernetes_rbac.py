"""deploy/kubernetes/rbac.yaml: valid Kubernetes objects, and just what the sink needs."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.sinks.kubernetes_support import RBAC_FILE
from tests.support.fake_kubernetes import Schemas


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    return [d for d in yaml.safe_load_all(RBAC_FILE.read_text()) if d]


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas()


def test_every_object_validates_against_the_official_schema(documents, schemas):
    assert [d["kind"] for d in documents] == ["ServiceAccount", "Role", "RoleBinding"]
    for document in documents:
        assert schemas.errors(document["kind"], document) == []


def test_the_schema_check_catches_a_misspelt_field(documents, schemas):
    role = copy.deepcopy(documents[1])
    role["rules"][0]["resourceName"] = role["rules"][0].pop("resourceNames")
    assert schemas.errors("Role", role)


def test_the_role_grants_get_and_patch_on_named_objects_and_create_on_secrets(documents):
    role = documents[1]
    rules = {
        (tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r.get("resourceNames", ()))): set(
            r["verbs"]
        )
        for r in role["rules"]
    }
    assert rules == {
        (("",), ("secrets",), ("app-spaces",)): {"get", "patch"},
        # create cannot be limited by resourceNames: the only rule without names
        (("",), ("secrets",), ()): {"create"},
        (("apps",), ("deployments",), ("web",)): {"get", "patch"},
    }
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in role["rules"])


def test_the_binding_ties_the_role_to_the_service_account(documents):
    account, role, binding = documents
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]
    namespaces = {d["metadata"]["namespace"] for d in documents}
    assert namespaces == {"media"}
