"""deploy/kubernetes: every manifest valid against Kubernetes' own schemas, offline, and safe.

``kubernetes-validate`` ships the Kubernetes JSON schemas, so the check runs
with no cluster and no network (strict: an unknown field is an error). Each
mode's kustomization is built the way kustomize builds it (its resources,
recursively; ``kubectl kustomize`` too when kubectl is installed) and what it
yields is checked: the replica counts, non-root, a read-only root
filesystem, the probes on the health listener, the Secrets mounted as files
the settings name, a writable state directory, and a config that loads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rotator.settings import load_settings

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is in the test extras"
)

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
VERSIONS = ("1.31.0", "1.37.0")  # an older DOKS release, and the newest schemas shipped
HEALTH_PORT = 9464


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _manifests() -> list[Path]:
    return sorted(p for p in KUBE.rglob("*.yaml") if p.name != "kustomization.yaml")


def _build(directory: Path) -> list[dict[str, Any]]:
    """What ``kustomize build`` yields (resources only: the kustomizations here add labels)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        target = (directory / resource).resolve()
        assert KUBE in target.parents, f"{resource} leaves deploy/kubernetes"
        docs += _build(target) if target.is_dir() else _documents(target)
    return docs


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [doc for doc in docs if doc["kind"] == kind]
    return found


def test_the_manifests_exist_for_both_modes():
    names = {str(p.relative_to(KUBE)) for p in _manifests()}
    assert {"postgresql/deployment.yaml", "sqlite/statefulset.yaml"} <= names


@pytest.mark.parametrize("path", _manifests(), ids=lambda p: str(p.relative_to(KUBE)))
@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(path, version):
    docs = _documents(path)
    assert docs, f"{path} holds no resource"
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_a_broken_manifest_is_caught():
    """The check can fail: a misspelt field and a wrong type are both refused."""
    deployment = _one(_build(KUBE / "postgresql"), "Deployment")
    misspelt = yaml.safe_load(yaml.safe_dump(deployment))
    misspelt["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, VERSIONS[0], strict=True)
    wrong = yaml.safe_load(yaml.safe_dump(deployment))
    wrong["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, VERSIONS[0], strict=True)


@pytest.mark.parametrize("mode", ["postgresql", "sqlite"])
def test_each_mode_builds_and_validates(mode):
    docs = _build(KUBE / mode)
    kinds = sorted(doc["kind"] for doc in docs)
    assert "ConfigMap" in kinds and "Service" in kinds
    for doc in docs:
        kubernetes_validate.validate(doc, VERSIONS[0], strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("mode", ["postgresql", "sqlite"])
def test_kubectl_kustomize_builds_each_mode_offline(mode):
    built = subprocess.run(
        ["kubectl", "kustomize", str(KUBE / mode)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    docs = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    assert sorted(d["kind"] for d in docs) == sorted(d["kind"] for d in _build(KUBE / mode))
    for doc in docs:
        kubernetes_validate.validate(doc, VERSIONS[0], strict=True)
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "rotator"


def test_postgresql_mode_runs_two_replicas_and_sqlite_mode_one_with_a_volume():
    deployment = _one(_build(KUBE / "postgresql"), "Deployment")
    assert deployment["spec"]["replicas"] == 2
    statefulset = _one(_build(KUBE / "sqlite"), "StatefulSet")
    assert statefulset["spec"]["replicas"] == 1
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    mounts = statefulset["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert claim["metadata"]["name"] in {m["name"] for m in mounts}
    headless = [d for d in _build(KUBE / "sqlite") if d["kind"] == "Service"]
    assert statefulset["spec"]["serviceName"] in {s["metadata"]["name"] for s in headless}


def _pods() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("postgresql", _one(_build(KUBE / "postgresql"), "Deployment")["spec"]["template"]),
        ("sqlite", _statefulset_pod()),
    ]


def _statefulset_pod() -> dict[str, Any]:
    """The StatefulSet's pod template, with its volume claim templates beside its volumes."""
    spec = _one(_build(KUBE / "sqlite"), "StatefulSet")["spec"]
    return {**spec["template"], "claims": spec["volumeClaimTemplates"]}


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def _mount_of(pod: dict[str, Any], container: dict[str, Any], path: str) -> dict[str, Any]:
    """The volume behind *path* in *container* (the deepest mount containing it)."""
    claims = [
        {"name": claim["metadata"]["name"], "persistentVolumeClaim": claim["spec"]}
        for claim in pod.get("claims", [])
    ]
    mounts = [
        m
        for m in container["volumeMounts"]
        if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert mounts, f"{path} is on no volume of {container['name']}"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    [volume] = [v for v in pod["spec"]["volumes"] + claims if v["name"] == mount["name"]]
    return {**mount, "volume": volume}


@pytest.mark.parametrize(("mode", "pod"), _pods(), ids=["postgresql", "sqlite"])
def test_non_root_with_a_read_only_root_filesystem(mode, pod):
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"] + spec.get("initContainers", []):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        state = _mount_of(pod, container, _env(container)["ROTATOR_STATE_DIR"])
        assert not state.get("readOnly", False), "the state directory must be writable"
        assert "secret" not in state["volume"] and "configMap" not in state["volume"]


@pytest.mark.parametrize(("mode", "pod"), _pods(), ids=["postgresql", "sqlite"])
def test_secrets_are_mounted_as_the_files_the_settings_name(mode, pod):
    for container in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
        env = _env(container)
        assert "ROTATOR_MASTER_KEY" not in env and "ROTATOR_DATABASE_URL" not in env
        wanted = {"ROTATOR_MASTER_KEY_FILE": "rotator-master-key"}
        if mode == "postgresql":
            wanted["ROTATOR_DATABASE_URL_FILE"] = "rotator-database-url"
        else:
            assert "ROTATOR_DATABASE_URL_FILE" not in env
        for variable, secret in wanted.items():
            mount = _mount_of(pod, container, env[variable])
            assert mount["volume"]["secret"]["secretName"] == secret
            assert mount["readOnly"] is True
        # The key file's 0440 mode is accepted only inside the credentials directory.
        key_dir = str(Path(env["ROTATOR_MASTER_KEY_FILE"]).parent)
        assert env["CREDENTIALS_DIRECTORY"] == key_dir
        config = _mount_of(pod, container, env["ROTATOR_CONFIG"])
        assert config["volume"]["configMap"]["name"] == "rotator-config"


@pytest.mark.parametrize(("mode", "pod"), _pods(), ids=["postgresql", "sqlite"])
def test_probes_reach_the_health_listener(mode, pod):
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["health"] == HEALTH_PORT
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert "args" not in container and "command" not in container  # the image's CMD
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd is not None
    assert f'"0.0.0.0:{HEALTH_PORT}"' in cmd[1] and '"--health-public"' in cmd[1]
    [init] = pod["spec"]["initContainers"]
    assert init["args"] == ["init"]


def test_the_services_point_at_the_health_port():
    for mode in ("postgresql", "sqlite"):
        for service in [d for d in _build(KUBE / mode) if d["kind"] == "Service"]:
            [port] = service["spec"]["ports"]
            assert (port["port"], port["targetPort"]) == (HEALTH_PORT, "health")


def test_the_config_map_holds_a_config_rotator_loads(tmp_path):
    config_map = _one(_build(KUBE / "postgresql"), "ConfigMap")
    path = tmp_path / "rotator.toml"
    path.write_text(config_map["data"]["rotator.toml"])
    settings = load_settings(
        {"ROTATOR_STATE_DIR": str(tmp_path / "state"), "ROTATOR_MASTER_KEY_FILE": "/nonexistent"},
        config_path=path,
    )
    assert settings.config.daemon.lease_ttl.total_seconds() == 60
