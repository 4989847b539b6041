"""The kubernetes sink against a fake cluster: owned keys only, ownership marks, rollouts."""

from __future__ import annotations

import base64

import pytest

from rotator.errors import SinkError
from rotator.sinks import KeyPair
from rotator.sinks.kubernetes import ACCESS_KEY_MARK, KEYS_MARK, MANAGED_BY, OWNER
from rotator.sinks.kubernetes_rollout import RESTARTED_AT, ROTATION_MARK
from tests.sinks.kubernetes_support import (
    CANARY,
    CONTEXT,
    NAMESPACE,
    NEW_ACCESS,
    NEW_PAIR,
    RBAC_FILE,
    SECRET,
    clock,
    cluster,
    make_k8s_sink,
)
from tests.sinks.vault_support import new_pair

__all__ = ["clock", "cluster", "make_k8s_sink"]  # fixtures used below

OTHER_KEYS = {"DATABASE_URL": "postgres://app:pw@db/app", "binary.bin": "\x00\x01\xff"}


def raw_data(cluster, name=SECRET):
    return cluster.secret(NAMESPACE, name)["data"]


def test_an_absent_secret_is_created_with_the_owned_keys_and_marked(cluster, make_k8s_sink):
    confirmation = make_k8s_sink().push(NEW_PAIR, CONTEXT)

    assert cluster.secret_data(NAMESPACE, SECRET) == {
        "SPACES_ACCESS_KEY": NEW_ACCESS,
        "SPACES_SECRET_KEY": CANARY,
    }
    secret = cluster.secret(NAMESPACE, SECRET)
    annotations = secret["metadata"]["annotations"]
    assert annotations[OWNER] == "media"
    assert annotations[ACCESS_KEY_MARK] == NEW_ACCESS
    assert annotations[KEYS_MARK] == "SPACES_ACCESS_KEY,SPACES_SECRET_KEY"
    assert secret["metadata"]["labels"][MANAGED_BY] == "rotator"
    assert secret["type"] == "Opaque"
    assert confirmation.detail["secret"] == f"{NAMESPACE}/{SECRET}"
    assert confirmation.detail["resource_version"] == secret["metadata"]["resourceVersion"]
    managers = [e["manager"] for e in secret["metadata"]["managedFields"]]
    assert managers == ["rotator"]


def test_an_existing_secret_gets_only_its_owned_keys_patched_and_the_rest_kept_byte_for_byte(
    cluster, make_k8s_sink
):
    cluster.add_secret(
        NAMESPACE,
        SECRET,
        {"SPACES_ACCESS_KEY": "DO00OLD", "SPACES_SECRET_KEY": "old", **OTHER_KEYS},
        annotations={"team": "media"},
        labels={"app": "web"},
    )
    before = raw_data(cluster)

    make_k8s_sink().push(NEW_PAIR, CONTEXT)

    after = raw_data(cluster)
    for key in OTHER_KEYS:
        assert after[key] == before[key]
    assert base64.b64decode(after["SPACES_SECRET_KEY"]).decode() == CANARY
    metadata = cluster.secret(NAMESPACE, SECRET)["metadata"]
    assert metadata["annotations"]["team"] == "media"
    assert metadata["labels"] == {"app": "web", MANAGED_BY: "rotator"}
    [patch] = [s for s in cluster.writes() if s.method == "PATCH" and "secrets" in s.path]
    assert set(patch.body["data"]) == {"SPACES_ACCESS_KEY", "SPACES_SECRET_KEY"}
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body["metadata"]["resourceVersion"]  # optimistic concurrency


def test_the_named_deployment_is_restarted_and_its_rollout_awaited(cluster, make_k8s_sink, clock):
    before = cluster.workload("deployments", NAMESPACE, "web")

    confirmation = make_k8s_sink().push(NEW_PAIR, CONTEXT)

    after = cluster.workload("deployments", NAMESPACE, "web")
    annotations = after["spec"]["template"]["metadata"]["annotations"]
    assert annotations[RESTARTED_AT] == "2026-01-02T03:04:05Z"
    assert annotations[ROTATION_MARK] == CONTEXT.rotation_id
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert after["status"]["observedGeneration"] == after["metadata"]["generation"]
    assert after["status"]["updatedReplicas"] == after["status"]["availableReplicas"] == 2
    assert clock.slept  # it polled until the rollout completed
    assert confirmation.detail["restarted"] == "deployment/web"
    [restart] = [s for s in cluster.writes() if "deployments" in s.path]
    assert restart.content_type == "application/strategic-merge-patch+json"


def test_a_statefulset_is_restarted_and_awaited_too(cluster, make_k8s_sink):
    cluster.add_workload("StatefulSet", NAMESPACE, "worker", replicas=3)

    make_k8s_sink(restart=["deployment/web", "statefulset/worker"]).push(NEW_PAIR, CONTEXT)

    worker = cluster.workload("statefulsets", NAMESPACE, "worker")
    assert worker["status"]["currentRevision"] == worker["status"]["updateRevision"]
    assert worker["status"]["updatedReplicas"] == 3
    assert ROTATION_MARK in worker["spec"]["template"]["metadata"]["annotations"]


def test_a_repeated_push_writes_nothing_and_restarts_nothing_again(cluster, make_k8s_sink):
    sink = make_k8s_sink()
    sink.push(NEW_PAIR, CONTEXT)
    writes = len(cluster.writes())

    sink.push(NEW_PAIR, CONTEXT)  # a resumed rotation

    assert len(cluster.writes()) == writes
    assert sink.holds() == NEW_ACCESS


def test_a_new_pair_replaces_the_old_and_restarts_again(cluster, make_k8s_sink):
    from dataclasses import replace

    sink = make_k8s_sink()
    sink.push(NEW_PAIR, CONTEXT)
    second = new_pair()
    sink.push(second, replace(CONTEXT, rotation_id="rotation-k8s-2"))

    assert cluster.secret_data(NAMESPACE, SECRET)["SPACES_ACCESS_KEY"] == second.access_key
    assert cluster.workload("deployments", NAMESPACE, "web")["metadata"]["generation"] == 3


def test_keys_map_secret_keys_to_named_fields(cluster, make_k8s_sink):
    sink = make_k8s_sink(keys={"AWS_ACCESS_KEY_ID": "access_key", "aws.secret": "secret_key"})
    sink.push(NEW_PAIR, CONTEXT)
    assert cluster.secret_data(NAMESPACE, SECRET) == {
        "AWS_ACCESS_KEY_ID": NEW_ACCESS,
        "aws.secret": CANARY,
    }
    assert sink.holds() == NEW_ACCESS


def test_a_field_the_credential_lacks_is_named(cluster, make_k8s_sink):
    sink = make_k8s_sink(keys={"DATABASE_URL": "uri"})
    with pytest.raises(SinkError, match=r"credential field 'uri'.*access_key, secret_key"):
        sink.push(NEW_PAIR, CONTEXT)
    assert cluster.writes() == []


def test_holds_reads_the_access_key_and_none_when_absent(cluster, make_k8s_sink):
    sink = make_k8s_sink()
    assert sink.holds() is None
    cluster.add_secret(NAMESPACE, SECRET, {"SPACES_ACCESS_KEY": "DO00THERE"})
    assert sink.holds() == "DO00THERE"


def test_describe_push_names_keys_and_restarts_and_sends_no_write(cluster, make_k8s_sink):
    cluster.add_secret(NAMESPACE, SECRET, {"SPACES_ACCESS_KEY": "DO00OLD", **OTHER_KEYS})
    lines = make_k8s_sink().describe_push(NEW_ACCESS, CONTEXT)

    text = "\n".join(lines)
    assert "patch keys SPACES_ACCESS_KEY, SPACES_SECRET_KEY of Secret media/app-spaces" in text
    assert "keep the other keys of Secret media/app-spaces: DATABASE_URL, binary.bin" in text
    assert "restart deployment/web" in text
    assert "postgres://" not in text
    assert cluster.writes() == []


def test_describe_push_says_create_when_the_secret_is_absent(cluster, make_k8s_sink):
    [first, *_] = make_k8s_sink().describe_push(NEW_ACCESS, CONTEXT)
    assert first.startswith("create Secret media/app-spaces with keys SPACES_ACCESS_KEY")
    assert cluster.writes() == []


def test_check_passes_with_the_example_rbac_and_writes_nothing(cluster, make_k8s_sink):
    token = cluster.grant_role("rbac-token", RBAC_FILE)
    sink = make_k8s_sink(token=token, secret="app-spaces")
    sink.check()  # the Secret does not exist yet: fine, create is allowed
    cluster.add_secret(NAMESPACE, SECRET, {"SPACES_ACCESS_KEY": "DO00OLD"})
    sink.check()
    assert cluster.writes() == []
    reviews = [s for s in cluster.requests if "selfsubjectaccessreviews" in s.path]
    asked = {
        (
            r.body["spec"]["resourceAttributes"]["verb"],
            r.body["spec"]["resourceAttributes"]["resource"],
        )
        for r in reviews
    }
    assert asked >= {("get", "secrets"), ("patch", "secrets"), ("create", "secrets")}
    assert ("patch", "deployments") in asked


def test_a_push_succeeds_with_only_the_example_rbac(cluster, make_k8s_sink):
    token = cluster.grant_role("rbac-token", RBAC_FILE)
    make_k8s_sink(token=token).push(NEW_PAIR, CONTEXT)
    assert cluster.secret_data(NAMESPACE, SECRET)["SPACES_SECRET_KEY"] == CANARY


def test_a_secret_of_another_policy_by_rotator_is_refused(cluster, make_k8s_sink):
    cluster.add_secret(
        NAMESPACE, SECRET, {"SPACES_ACCESS_KEY": "DO00THEIRS"}, annotations={OWNER: "billing"}
    )
    with pytest.raises(SinkError, match="managed by rotator policy 'billing'"):
        make_k8s_sink().push(KeyPair(NEW_ACCESS, NEW_PAIR.secret_key), CONTEXT)
    assert cluster.writes() == []
