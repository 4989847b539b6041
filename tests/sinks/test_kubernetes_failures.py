"""The kubernetes sink when things go wrong: one clear SinkError each, never a secret in it."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from rotator.errors import SinkError
from rotator.sinks.kubernetes import OWNER
from tests.sinks.kubernetes_support import (
    CANARY,
    CONTEXT,
    NAMESPACE,
    NEW_ACCESS,
    NEW_PAIR,
    SECRET,
    TOKEN,
    clock,
    cluster,
    make_k8s_sink,
)
from tests.support.fake_kubernetes import FakeKubernetes

__all__ = ["clock", "cluster", "make_k8s_sink"]  # fixtures used below

OLD = {"SPACES_ACCESS_KEY": "DO00OLDACCESS", "SPACES_SECRET_KEY": "old-secret"}


def assert_one_clean_line(error: BaseException, *secrets: str) -> None:
    text = str(error)
    assert "\n" not in text
    for secret in (CANARY, TOKEN, *secrets):
        assert secret not in text


@pytest.mark.parametrize(
    ("arrange", "named"),
    [
        ({"labels": {"app.kubernetes.io/managed-by": "Helm"}}, "managed by 'Helm'"),
        ({"annotations": {OWNER: "billing"}}, "managed by rotator policy 'billing'"),
        (
            {
                "owner_references": [
                    {
                        "apiVersion": "external-secrets.io/v1",
                        "kind": "ExternalSecret",
                        "name": "app-spaces",
                        "uid": "0b7c2f0e-1111-4222-8333-444455556666",
                        "controller": True,
                    }
                ]
            },
            "managed by the controller ExternalSecret/app-spaces",
        ),
        (
            {
                "managed_fields": [
                    {
                        "manager": "argocd-controller",
                        "operation": "Apply",
                        "apiVersion": "v1",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:data": {"f:SPACES_SECRET_KEY": {}}},
                    }
                ]
            },
            "server-side-apply manager 'argocd-controller', which owns SPACES_SECRET_KEY",
        ),
    ],
    ids=["helm-label", "other-policy", "controller", "server-side-apply"],
)
def test_a_secret_another_manager_owns_is_refused_and_left_alone(
    cluster, make_k8s_sink, arrange, named
):
    cluster.add_secret(NAMESPACE, SECRET, OLD, **arrange)
    before = cluster.secret(NAMESPACE, SECRET)
    sink = make_k8s_sink()

    with pytest.raises(SinkError, match=named) as pushed:
        sink.push(NEW_PAIR, CONTEXT)
    with pytest.raises(SinkError, match=named):
        sink.check()
    with pytest.raises(SinkError, match=named):
        sink.describe_push(NEW_ACCESS, CONTEXT)

    assert cluster.secret(NAMESPACE, SECRET) == before
    assert cluster.writes() == []
    assert "will not write there" in str(pushed.value)
    assert_one_clean_line(pushed.value)


def test_an_immutable_secret_is_refused(cluster, make_k8s_sink):
    cluster.add_secret(NAMESPACE, SECRET, OLD, immutable=True)
    with pytest.raises(SinkError, match="is immutable"):
        make_k8s_sink().push(NEW_PAIR, CONTEXT)
    assert cluster.writes() == []


def test_a_forbidden_patch_names_the_verb_and_resource_and_changes_nothing(cluster, make_k8s_sink):
    cluster.add_secret(NAMESPACE, SECRET, OLD)
    read_only = cluster.grant(
        "read-only-token",
        [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
    )
    sink = make_k8s_sink(token=read_only)

    with pytest.raises(SinkError) as pushed:
        sink.push(NEW_PAIR, CONTEXT)
    with pytest.raises(SinkError) as checked:
        sink.check()

    message = str(pushed.value)
    assert message.startswith(f"sink {sink.label}: forbidden: ")
    assert "does not allow rotator to patch secrets/app-spaces in namespace media (403)" in message
    assert not pushed.value.transient
    assert "may not patch secrets/app-spaces, create secrets, get deployments/web" in str(
        checked.value
    )
    assert cluster.secret_data(NAMESPACE, SECRET) == OLD
    assert sink.holds() == "DO00OLDACCESS"
    assert_one_clean_line(pushed.value, "read-only-token")


def test_a_forbidden_restart_leaves_the_secret_written_but_unconfirmed(cluster, make_k8s_sink):
    no_apps = cluster.grant(
        "secrets-only", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]
    )
    with pytest.raises(SinkError, match=r"forbidden: .* get deployments/web in namespace media"):
        make_k8s_sink(token=no_apps).push(NEW_PAIR, CONTEXT)


def test_a_rejected_token_is_named_as_such(cluster, make_k8s_sink):
    sink = make_k8s_sink(token="not-a-known-token")
    with pytest.raises(SinkError, match=r"rejected rotator's credentials \(401\)") as pushed:
        sink.push(NEW_PAIR, CONTEXT)
    assert sink.holds() is None
    assert_one_clean_line(pushed.value, "not-a-known-token")


def test_an_unreachable_cluster_is_a_transient_failure(cluster, make_k8s_sink):
    sink = make_k8s_sink()
    cluster.stop()
    try:
        with pytest.raises(
            SinkError, match=r"cannot reach the Kubernetes API at 127\.0\.0\.1"
        ) as e:
            sink.push(NEW_PAIR, CONTEXT)
        assert e.value.transient
        with pytest.raises(SinkError) as checked:
            sink.check()
        assert checked.value.transient
        assert sink.holds() is None
    finally:
        cluster.start()
    assert_one_clean_line(e.value)


def test_a_server_whose_certificate_the_ca_does_not_sign_is_refused(
    cluster, make_k8s_sink, tmp_path
):
    with FakeKubernetes() as impostor:  # its own CA, not the one in the kubeconfig
        impostor.grant(TOKEN)
        kubeconfig = impostor.kubeconfig(tmp_path / "impostor", TOKEN, ca_pem=cluster.ca_pem)
        sink = make_k8s_sink(kubeconfig=str(kubeconfig))
        with pytest.raises(SinkError, match="its certificate is not trusted") as e:
            sink.push(NEW_PAIR, CONTEXT)
        assert not e.value.transient
        assert impostor.requests == []  # the token never reached it


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_server_that_never_answers_times_out_transiently(make_k8s_sink, tmp_path, silent_port):
    kubeconfig = tmp_path / "silent"
    kubeconfig.write_text(
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{silent_port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n"
    )
    sink = make_k8s_sink(kubeconfig=str(kubeconfig), timeout="1s")
    with pytest.raises(SinkError, match=r"did not answer within 1s") as e:
        sink.push(NEW_PAIR, CONTEXT)
    assert e.value.transient


def test_a_rollout_that_never_completes_fails_transiently_after_the_timeout(
    cluster, make_k8s_sink, clock
):
    cluster.add_workload("Deployment", NAMESPACE, "stuck", mode="stuck")
    sink = make_k8s_sink(restart=["deployment/stuck"], rollout_timeout="1m")

    with pytest.raises(SinkError) as e:
        sink.push(NEW_PAIR, CONTEXT)

    message = str(e.value)
    assert "rollout not complete after 60s: deployment/stuck (1 of 2 replicas updated)" in message
    assert "the old key stays valid" in message
    assert e.value.transient
    assert sum(clock.slept) == pytest.approx(60)
    assert max(clock.slept) <= 5.0  # polled at most every poll_interval
    # The Secret holds the new pair; a later push only waits again, no second restart.
    generation = cluster.workload("deployments", NAMESPACE, "stuck")["metadata"]["generation"]
    with pytest.raises(SinkError, match="rollout not complete"):
        sink.push(NEW_PAIR, CONTEXT)
    after = cluster.workload("deployments", NAMESPACE, "stuck")["metadata"]["generation"]
    assert after == generation


def test_a_progress_deadline_exceeded_is_a_definite_failure(cluster, make_k8s_sink):
    cluster.add_workload("Deployment", NAMESPACE, "broken", mode="deadline")
    with pytest.raises(SinkError, match="rollout of deployment/broken exceeded its progress") as e:
        make_k8s_sink(restart=["deployment/broken"]).push(NEW_PAIR, CONTEXT)
    assert not e.value.transient


def test_a_statefulset_updated_on_delete_is_refused_before_any_restart(cluster, make_k8s_sink):
    cluster.add_workload("StatefulSet", NAMESPACE, "db", update_strategy="OnDelete")
    sink = make_k8s_sink(restart=["statefulset/db"])
    with pytest.raises(SinkError, match="OnDelete update strategy"):
        sink.check()
    with pytest.raises(SinkError, match="OnDelete update strategy"):
        sink.push(NEW_PAIR, CONTEXT)
    assert not [s for s in cluster.writes() if "statefulsets" in s.path]


def test_a_missing_workload_is_named(cluster, make_k8s_sink):
    with pytest.raises(SinkError, match="deployment/nope not found in namespace media"):
        make_k8s_sink(restart=["deployment/nope"]).push(NEW_PAIR, CONTEXT)


def test_a_write_between_read_and_patch_is_a_conflict_and_the_other_write_wins(
    cluster, make_k8s_sink
):
    cluster.add_secret(NAMESPACE, SECRET, OLD)
    sink = make_k8s_sink()
    real_get = sink._api.get
    raced = threading.Event()

    def get_then_race(path, action):
        answer = real_get(path, action)
        if "secrets" in path and not raced.is_set():
            raced.set()
            cluster.add_secret(NAMESPACE, SECRET, {**OLD, "SPACES_ACCESS_KEY": "DO00THEIRS"})
        return answer

    sink._api.get = get_then_race
    with pytest.raises(SinkError, match=r"conflict \(409\)") as e:
        sink.push(NEW_PAIR, CONTEXT)
    assert e.value.transient
    assert cluster.secret_data(NAMESPACE, SECRET)["SPACES_ACCESS_KEY"] == "DO00THEIRS"


def test_a_canary_secret_never_reaches_logs_errors_or_descriptions(cluster, make_k8s_sink, caplog):
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and rotator at their chattiest
    sink = make_k8s_sink()
    texts = [repr(sink), repr(NEW_PAIR), *sink.describe_push(NEW_ACCESS, CONTEXT)]
    confirmation = sink.push(NEW_PAIR, CONTEXT)
    texts += [
        repr(confirmation),
        str(confirmation.detail),
        *sink.describe_push(NEW_ACCESS, CONTEXT),
    ]
    cluster.add_secret(NAMESPACE, SECRET, {"SPACES_SECRET_KEY": CANARY}, annotations={OWNER: "x"})
    with pytest.raises(SinkError) as refused:
        sink.push(NEW_PAIR, CONTEXT)
    texts.append(str(refused.value))
    with pytest.raises(SinkError) as forbidden:
        make_k8s_sink(token="wrong-token").push(NEW_PAIR, CONTEXT)
    texts.append(str(forbidden.value))
    texts += [record.getMessage() for record in caplog.records]

    assert any(NEW_ACCESS in text for text in texts)  # the sweep saw real output
    for text in texts:
        assert CANARY not in text
        assert TOKEN not in text
