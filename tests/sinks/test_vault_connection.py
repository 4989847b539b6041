"""How the Vault sink connects: AppRole, namespaces, TLS, and only the settings it is given."""

from __future__ import annotations

import logging
import secrets

import pytest

from rotator.errors import SinkError
from rotator.sandbox.ports import free_port


def _writer_rules(mount: str, path: str) -> str:
    return f"""
path "{mount}/data/{path}" {{ capabilities = ["create", "read", "update"] }}
path "{mount}/metadata/{path}" {{ capabilities = ["read", "update"] }}
"""


def _approle(vault, mount: str, policy_rules: str, *, namespace: str | None = None, **role):
    """Enable AppRole at ``mount`` with one role; return (role_id, secret_id)."""
    name = "writer-" + secrets.token_hex(4)
    vault.api("POST", f"sys/auth/{mount}", json={"type": "approle"}, namespace=namespace)
    vault.api("PUT", f"sys/policies/acl/{name}", json={"policy": policy_rules}, namespace=namespace)
    vault.api(
        "POST",
        f"auth/{mount}/role/{name}",
        json={"token_policies": [name], "token_ttl": "10m", **role},
        namespace=namespace,
    )
    role_id = vault.api("GET", f"auth/{mount}/role/{name}/role-id", namespace=namespace)
    secret_id = vault.api("POST", f"auth/{mount}/role/{name}/secret-id", namespace=namespace)
    return role_id["data"]["role_id"], secret_id["data"]["secret_id"]


def test_approle_login_with_a_secret_id_file_pushes_and_checks(
    vault, make_sink, kv_path, tmp_path, pair, context
):
    mount = "approle-" + secrets.token_hex(4)
    role_id, secret_id = _approle(vault, mount, _writer_rules("secret", kv_path))
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(secret_id + "\n")

    sink = make_sink(
        approle={"role_id": role_id, "secret_id_file": str(secret_file), "mount": mount}
    )
    sink.check()
    confirmation = sink.push(pair, context)

    assert confirmation.detail["version"] == "1"
    assert vault.read("secret", kv_path)["data"]["access_key"] == pair.access_key


def test_an_expired_approle_token_is_replaced_by_logging_in_again(
    vault, make_sink, kv_path, pair, context, caplog
):
    # Each token may make two requests: a push needs more, so the sink must
    # notice its token died and log in again mid-push.
    mount = "approle-" + secrets.token_hex(4)
    role_id, secret_id = _approle(
        vault, mount, _writer_rules("secret", kv_path), token_num_uses=2, secret_id_num_uses=0
    )
    sink = make_sink(approle={"role_id": role_id, "secret_id": secret_id, "mount": mount})
    caplog.set_level(logging.INFO, logger="rotator.sinks.vault_client")

    sink.push(pair, context)

    assert "the AppRole token expired; logging in again" in caplog.text

    assert vault.read("secret", kv_path)["data"]["access_key"] == pair.access_key
    assert sink.holds() == pair.access_key


def test_a_refused_approle_login_says_so_without_the_secret_id(vault, make_sink, pair, context):
    mount = "approle-" + secrets.token_hex(4)
    role_id, _ = _approle(vault, mount, _writer_rules("secret", "unused"))
    wrong = "00000000-1111-2222-3333-" + secrets.token_hex(6)
    sink = make_sink(approle={"role_id": role_id, "secret_id": wrong, "mount": mount})

    with pytest.raises(SinkError, match=f"refused the AppRole login at auth/{mount}") as refused:
        sink.push(pair, context)
    assert wrong not in str(refused.value)
    assert role_id not in str(refused.value)


def test_an_approle_mount_that_does_not_exist_is_named(make_sink, pair, context):
    sink = make_sink(approle={"role_id": "r", "secret_id": "s", "mount": "no-such-approle"})

    with pytest.raises(SinkError, match="is AppRole enabled at that mount"):
        sink.check()


def test_the_namespace_option_writes_inside_that_namespace(
    vault, make_sink, kv_path, pair, context
):
    namespace = "team-" + secrets.token_hex(4)
    vault.api("POST", f"sys/namespaces/{namespace}")
    vault.api("POST", "sys/mounts/secret", json={"type": "kv-v2"}, namespace=namespace)
    sink = make_sink(namespace=namespace)

    sink.check()
    sink.push(pair, context)

    assert vault.read("secret", kv_path, namespace=namespace)["data"]["access_key"] == (
        pair.access_key
    )
    assert vault.read("secret", kv_path) is None  # not in the root namespace
    assert sink.holds() == pair.access_key


def test_approle_inside_a_namespace(vault, make_sink, kv_path, pair, context):
    namespace = "team-" + secrets.token_hex(4)
    vault.api("POST", f"sys/namespaces/{namespace}")
    vault.api("POST", "sys/mounts/kv", json={"type": "kv-v2"}, namespace=namespace)
    role_id, secret_id = _approle(
        vault, "approle", _writer_rules("kv", kv_path), namespace=namespace
    )
    sink = make_sink(
        namespace=namespace, mount="kv", approle={"role_id": role_id, "secret_id": secret_id}
    )

    sink.push(pair, context)

    assert vault.read("kv", kv_path, namespace=namespace)["data"]["access_key"] == pair.access_key


def test_vault_and_proxy_environment_variables_are_ignored(
    vault, make_sink, kv_path, tmp_path, monkeypatch, pair, context
):
    dead = f"http://127.0.0.1:{free_port()}"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".vault-token").write_text("s.from-the-token-helper")
    (home / ".netrc").write_text("machine 127.0.0.1 login someone password wrong\n")
    for name, value in {
        "VAULT_ADDR": dead,
        "VAULT_TOKEN": "s.from-the-environment",
        "VAULT_NAMESPACE": "nowhere",
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
        "ALL_PROXY": dead,
        "http_proxy": dead,
        "https_proxy": dead,
        "REQUESTS_CA_BUNDLE": str(tmp_path / "missing.pem"),
        "CURL_CA_BUNDLE": str(tmp_path / "missing.pem"),
        "HOME": str(home),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    sink = make_sink()

    sink.check()
    sink.push(pair, context)

    assert vault.read("secret", kv_path)["data"]["access_key"] == pair.access_key


def test_a_ca_cert_makes_a_private_tls_server_trusted(
    tls_vault, make_sink, kv_path, monkeypatch, pair, context
):
    # The environment naming the CA must not be what makes it work.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_vault.ca_cert))
    untrusted = make_sink(url=tls_vault.url, token=tls_vault.root_token)
    with pytest.raises(SinkError, match=rf"TLS with Vault at 127.0.0.1:{tls_vault.port} failed"):
        untrusted.check()

    trusted = make_sink(
        url=tls_vault.url, token=tls_vault.root_token, ca_cert=str(tls_vault.ca_cert)
    )
    trusted.check()
    trusted.push(pair, context)

    assert tls_vault.read("secret", kv_path)["data"]["access_key"] == pair.access_key


def test_tls_verify_false_skips_certificate_checks(tls_vault, make_sink, pair, context, caplog):
    sink = make_sink(url=tls_vault.url, token=tls_vault.root_token, tls_verify=False)
    assert "TLS certificate checks are off" in caplog.text  # the operator chose this; say so

    sink.check()
    assert sink.push(pair, context).detail["version"] == "1"


def test_a_missing_ca_cert_file_is_a_clear_failure(tls_vault, make_sink, tmp_path, pair, context):
    missing = tmp_path / "no-such-ca.pem"
    sink = make_sink(url=tls_vault.url, token=tls_vault.root_token, ca_cert=str(missing))

    with pytest.raises(SinkError, match=f"cannot use ca_cert {missing} for Vault at 127.0.0.1"):
        sink.push(pair, context)
