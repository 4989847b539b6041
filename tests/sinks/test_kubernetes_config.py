"""The kubernetes sink's table and where it finds the cluster: in-cluster or a kubeconfig."""

from __future__ import annotations

import base64
import tomllib
from pathlib import Path

import pytest
import yaml

from rotator.errors import ConfigError, RotatorError
from rotator.settings import parse_config
from rotator.sinks import SinkDeps
from rotator.sinks.kubernetes import DEFAULT_KEYS, KubernetesSinkConfig
from rotator.sinks.kubernetes_auth import from_kubeconfig, in_cluster
from tests.support.fake_kubernetes import generate_tls

BASE = {"type": "kubernetes", "namespace": "media", "secret": "app-spaces", "in_cluster": True}


def parse(**table):
    policy = {"name": "media", "connection": "prod", "spaces_key": "K", "sinks": [table]}
    return parse_config({"policies": [policy]}).policies[0].sinks[0]


def test_the_defaults_write_the_spaces_pair_and_wait_ten_minutes():
    config = parse(**BASE)
    assert config.keys == DEFAULT_KEYS
    assert config.rollout_timeout.total_seconds() == 600
    assert config.restart == []
    assert config.label == "kubernetes:media/app-spaces"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"namespace": "Media"}, "is not a valid namespace"),
        ({"secret": "app_spaces"}, "is not a valid Secret name"),
        ({"keys": {"SPACES KEY": "access_key"}}, "is not a valid Secret key"),
        ({"keys": {}}, "name at least one Secret key"),
        ({"restart": ["daemonset/agent"]}, "is not deployment/NAME or statefulset/NAME"),
        ({"restart": ["deployment/Web"]}, "is not a valid workload name"),
        ({"restart": ["deployment/web", "deployment/web"]}, "a workload is named twice"),
        ({"rollout_timeout": "0s"}, "must be longer than zero"),
        ({"in_cluster": False}, "set exactly one of in_cluster = true or kubeconfig"),
        ({"kubeconfig": "/etc/kubeconfig"}, "set exactly one of in_cluster = true or kubeconfig"),
        ({"context": "prod"}, "context applies to a kubeconfig only"),
        ({"insecure_skip_tls_verify": True}, "insecure_skip_tls_verify"),
    ],
)
def test_a_wrong_table_is_a_config_error_with_its_location(change, complaint):
    with pytest.raises(RotatorError) as caught:
        parse(**{**BASE, **change})
    assert complaint in str(caught.value)
    assert "policies[0].sinks[0]" in str(caught.value)


def write_kubeconfig(path: Path, cluster: dict, user: dict, **extra) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "doks", "cluster": cluster}],
        "users": [{"name": "rotator", "user": user}],
        "contexts": [{"name": "do-ams3", "context": {"cluster": "doks", "user": "rotator"}}],
        "current-context": "do-ams3",
        **extra,
    }
    path.write_text(yaml.safe_dump(document))
    return path


SERVER = {"server": "https://k8s.example:6443"}


@pytest.mark.parametrize(
    ("cluster", "user", "refusal"),
    [
        (SERVER, {"exec": {"command": "doctl", "apiVersion": "x"}}, "an exec credential plugin"),
        (SERVER, {"auth-provider": {"name": "oidc"}}, "an auth-provider"),
        (SERVER, {"username": "admin", "password": "pw"}, "basic auth"),
        ({**SERVER, "insecure-skip-tls-verify": True}, {"token": "t"}, "insecure-skip-tls-verify"),
        ({**SERVER, "proxy-url": "http://proxy:3128"}, {"token": "t"}, "proxy-url"),
        ({"server": "http://k8s.example:8080"}, {"token": "t"}, "must be an https:// URL"),
        (SERVER, {}, "has no token, tokenFile or client certificate"),
        (SERVER, {"client-certificate-data": "QUJD"}, "client certificate or key but not both"),
        ({**SERVER, "certificate-authority-data": "%%%"}, {"token": "t"}, "is not base64"),
    ],
)
def test_a_kubeconfig_rotator_cannot_use_safely_is_refused_clearly(
    tmp_path, cluster, user, refusal
):
    path = write_kubeconfig(tmp_path / "config", cluster, user)
    with pytest.raises(ConfigError, match=refusal) as caught:
        from_kubeconfig(path)
    assert f"kubeconfig {path}, context 'do-ams3'" in str(caught.value)
    assert "pw" not in str(caught.value)


def test_a_missing_context_or_file_is_named(tmp_path):
    path = write_kubeconfig(tmp_path / "config", SERVER, {"token": "t"})
    with pytest.raises(ConfigError, match="no context named 'staging' in contexts"):
        from_kubeconfig(path, "staging")
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        from_kubeconfig(tmp_path / "absent")
    (tmp_path / "bad").write_text("clusters: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        from_kubeconfig(tmp_path / "bad")


def test_files_in_a_kubeconfig_are_relative_to_it_and_the_token_file_is_reread(tmp_path):
    _, _, ca_pem = generate_tls(tmp_path)
    (tmp_path / "ca.crt").write_bytes(ca_pem)
    (tmp_path / "token").write_text("first-token\n")
    path = write_kubeconfig(
        tmp_path / "config",
        {**SERVER, "certificate-authority": "ca.crt"},
        {"tokenFile": "token"},
        **{"current-context": "do-ams3"},
    )
    access = from_kubeconfig(path)
    assert access.server == "https://k8s.example:6443"
    assert access.ca_pem == ca_pem
    assert access.bearer().reveal() == "first-token"
    (tmp_path / "token").write_text("rotated-token\n")
    assert access.bearer().reveal() == "rotated-token"
    access.ssl_context()  # the CA loads


def test_a_client_certificate_from_data_loads_and_leaves_no_file_behind(tmp_path):
    cert_file, key_file, ca_pem = generate_tls(tmp_path)
    encode = lambda data: base64.b64encode(data).decode()  # noqa: E731
    path = write_kubeconfig(
        tmp_path / "config",
        {**SERVER, "certificate-authority-data": encode(ca_pem)},
        {
            "client-certificate-data": encode(cert_file.read_bytes()),
            "client-key-data": encode(key_file.read_bytes()),
        },
    )
    access = from_kubeconfig(path)
    assert "PRIVATE KEY" not in repr(access)
    access.ssl_context()
    leftovers = list(Path(__import__("tempfile").gettempdir()).glob("rotator-k8s-*"))
    assert leftovers == []


def test_in_cluster_reads_the_service_account_and_the_two_documented_variables(tmp_path):
    _, _, ca_pem = generate_tls(tmp_path)
    (tmp_path / "ca.crt").write_bytes(ca_pem)
    (tmp_path / "token").write_text("sa-token")
    environ = {"KUBERNETES_SERVICE_HOST": "10.245.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    access = in_cluster(environ, tmp_path)
    assert access.server == "https://10.245.0.1:443"
    assert access.bearer().reveal() == "sa-token"
    assert access.ca_pem == ca_pem
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST is not set"):
        in_cluster({}, tmp_path)
    (tmp_path / "token").unlink()
    with pytest.raises(ConfigError, match="no token at"):
        in_cluster(environ, tmp_path)


def test_kubeconfig_from_the_environment_is_never_read(tmp_path, monkeypatch):
    path = write_kubeconfig(tmp_path / "config", SERVER, {"token": "t"})
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    config = KubernetesSinkConfig.model_validate(BASE)
    with pytest.raises(ConfigError, match="sink kubernetes:media/app-spaces: in-cluster"):
        config.build(SinkDeps())


def test_the_commented_example_in_the_example_config_parses():
    example = Path(__file__).parents[2] / "config" / "rotator.example.toml"
    lines = example.read_text().splitlines()
    start = lines.index('# type = "kubernetes"') - 1
    block = []
    for line in lines[start:]:
        if not line.startswith("# "):
            break
        block.append(line[2:])
    table = tomllib.loads("\n".join(block))["policies"]["sinks"][0]
    config = parse(**table)
    assert config.in_cluster and config.restart == ["deployment/web"]
    assert config.keys == DEFAULT_KEYS
