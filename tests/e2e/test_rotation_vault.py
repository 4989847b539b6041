"""`rotator rotate` into an App Platform app and a real OpenBao (Vault API) at once."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import ROTATION_SCOPES, media_policy


@pytest.fixture
def media(initialised, sandbox, bao, tmp_path):
    token_file = tmp_path / "vault-token"
    token_file.write_text(bao.root_token + "\n")
    token_file.chmod(0o600)
    app_id = sandbox.app_ids()[0]
    vault_sink = f"""
[[policies.sinks]]
type = "vault"
url = "{bao.url}"
mount = "secret"
path = "media/spaces"
token_file = "{token_file}"
"""
    initialised.config.write_text(
        "[digitalocean]\nretries = 1\n" + media_policy(app_id, more_sinks=vault_sink)
    )
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    initialised.app_id = app_id
    return initialised


def secret_of(sandbox, access_key: str) -> str:
    return next(k["secret_key"] for k in sandbox.spaces_keys() if k["access_key"] == access_key)


def test_a_rotation_reaches_the_app_and_vault_and_keeps_other_app_secrets(media, sandbox, bao):
    before = sandbox.app_running_env(media.app_id, "web")
    result = media("rotate", "media", "--json")
    assert result.code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "succeeded"
    assert [s["status"] for s in document["sinks"]] == ["confirmed", "confirmed"]
    new_key = document["new_access_key"]
    after = sandbox.app_running_env(media.app_id, "web")
    assert (after["SPACES_KEY"], after["SPACES_SECRET"]) == (new_key, secret_of(sandbox, new_key))
    assert {k: v for k, v in after.items() if not k.startswith("SPACES_")} == {
        k: v for k, v in before.items() if not k.startswith("SPACES_")
    }
    assert after["SPACES_BUCKET"] == before["SPACES_BUCKET"]
    stored = bao.read("secret", "media/spaces")["data"]
    assert stored == {"access_key": new_key, "secret_key": secret_of(sandbox, new_key)}
    marks = bao.metadata("secret", "media/spaces")["custom_metadata"]
    assert marks["managed-by"] == "rotator" and marks["rotator-policy"] == "media"
    assert secret_of(sandbox, new_key) not in result.output


def test_a_dry_run_changes_nothing_in_digitalocean_vault_or_the_store(media, sandbox, bao):
    before = (sandbox.snapshot(), bao.metadata("secret", "media/spaces"), media.dump())
    result = media("rotate", "media", "--dry-run")
    assert result.code == 0, result.output
    assert "nothing was changed" in result.stdout
    assert (sandbox.snapshot(), bao.metadata("secret", "media/spaces"), media.dump()) == before


def test_a_sealed_vault_fails_the_rotation_and_keeps_the_old_key_alive(media, sandbox, bao):
    old = next(k["access_key"] for k in sandbox.spaces_keys() if k["name"] == "demo-media")
    bao.seal()
    result = media("rotate", "media", "--json")
    assert result.code == 1
    document = json.loads(result.stdout)
    assert document["status"] == "failed"
    assert {s["name"]: s["status"] for s in document["sinks"]}["vault:secret/media/spaces"] == (
        "failed"
    )
    assert "sealed" in result.stderr
    alive = {k["access_key"] for k in sandbox.spaces_keys()}
    assert {old, document["new_access_key"]} <= alive  # the app may already serve the new key
    status = json.loads(media("status", "--json").stdout)["policies"][0]
    assert status["in_flight"]["last_error"]
    assert status["current_access_key"] == old


def test_a_vault_path_owned_by_someone_else_is_left_alone(media, sandbox, bao):
    bao.write("secret", "media/spaces", {"access_key": "theirs", "secret_key": "theirs"})
    bao.mark("secret", "media/spaces", {"managed-by": "terraform"})
    result = media("rotate", "media", "--json")
    assert result.code == 1
    assert "owned by" in result.stderr
    assert bao.read("secret", "media/spaces")["data"]["access_key"] == "theirs"
