"""`rotator rotate` when the create answer's access key is a path, a query or a forged log line.

The proxy rewrites the ``access_key`` of ``POST /v2/spaces/keys``'s answer
(the key is really created in the sandbox under its true id). rotator must
refuse the answer as a bad one: one clear `error:` line, nothing promoted,
nothing written to the app or Vault, no request to any path but a Spaces
key's own, the key it did create deleted by its planned name, and the old
key still the one in use. Once the peer behaves, the next `rotate` succeeds.
"""

from __future__ import annotations

import json
import re

import pytest

from rotator.sandbox.openbao import OpenBao
from tests.support.cli import ROTATION_SCOPES, Rotator, assert_one_line_error, media_policy
from tests.support.proxy import HostileProxy

ACCESS_KEY_FIELD = r'"access_key":\s*"[A-Z0-9]+"'
SPACES_KEY_PATH = re.compile(r"/v2/spaces/keys/[A-Z0-9]+")


@pytest.fixture
def media(rotator: Rotator, sandbox, bao: OpenBao, tmp_path) -> Rotator:
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
    rotator.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "5s"\n'
        + media_policy(app_id, grace="1h", more_sinks=vault_sink)
    )
    assert rotator.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    rotator.app_id = app_id  # type: ignore[attr-defined]
    return rotator


def hostile_keys(app_id: str) -> list[str]:
    return [
        f"../../apps/{app_id}",
        "DO00ABCDEF?name=x",
        "DO00%2f..%2fapps",
        "DO00ABCDEF\nforged: rotation succeeded",
        "DO00\x1b[31mRED",
        "",
    ]


@pytest.mark.parametrize("case", range(len(hostile_keys("x"))))
def test_a_forged_access_key_in_the_create_answer_fails_the_rotation_and_changes_nothing(
    media: Rotator, sandbox, proxy: HostileProxy, bao: OpenBao, case: int
) -> None:
    app_id = media.app_id  # type: ignore[attr-defined]
    hostile = hostile_keys(app_id)[case]
    original = next(k for k in sandbox.spaces_keys() if k["name"] == "demo-media")
    env_before = sandbox.app_running_env(app_id, "web")
    deployments_before = len(sandbox.app(app_id)["deployments"])
    sandbox.reset_request_log()
    proxy.add(
        "rewrite",
        method="POST",
        path="^/v2/spaces/keys$",
        pattern=ACCESS_KEY_FIELD,
        replacement=f'"access_key": {json.dumps(hostile)}',
    )

    result = media("rotate", "media", timeout=90)

    assert_one_line_error(result, 1, "bad answer to POST /v2/spaces/keys", "access key")
    assert "\x1b" not in result.output
    assert not any(line.startswith("forged") for line in result.output.splitlines())
    # Nothing promoted or written anywhere.
    assert sandbox.app_running_env(app_id, "web") == env_before
    assert len(sandbox.app(app_id)["deployments"]) == deployments_before
    assert bao.read("secret", "media/spaces") is None
    # No request went anywhere but the Spaces key collection and a real key's own path.
    for entry in sandbox.requests():
        if entry["method"] in ("DELETE", "PUT", "PATCH"):
            assert SPACES_KEY_PATH.fullmatch(entry["path"]), entry
        assert "/v2/apps" not in entry["path"] or entry["method"] == "GET", entry
    # The key DigitalOcean did create is deleted by its planned name; the old one lives on.
    alive = {k["access_key"]: k for k in sandbox.spaces_keys()}
    assert original["access_key"] in alive
    assert not [k for k in alive.values() if k["name"].startswith("rotator-media-")]
    status = json.loads(media("status", "--json").stdout)["policies"][0]
    assert status["current_access_key"] in (None, original["access_key"])
    assert status["previous_access_key"] is None


def test_after_a_forged_answer_the_next_rotation_with_an_honest_peer_succeeds(
    media: Rotator, sandbox, proxy: HostileProxy, bao: OpenBao
) -> None:
    app_id = media.app_id  # type: ignore[attr-defined]
    proxy.add(
        "rewrite",
        method="POST",
        path="^/v2/spaces/keys$",
        pattern=ACCESS_KEY_FIELD,
        replacement=f'"access_key": "../../apps/{app_id}"',
        times=1,
    )
    assert media("rotate", "media", timeout=90).code == 1

    result = media("rotate", "media", "--json", timeout=90)

    assert result.code == 0, result.output
    new_key = json.loads(result.stdout)["new_access_key"]
    assert sandbox.app_running_env(app_id, "web")["SPACES_KEY"] == new_key
    assert bao.read("secret", "media/spaces")["data"]["access_key"] == new_key


def test_a_forged_access_key_in_a_listing_is_refused_before_any_delete(
    media: Rotator, sandbox, proxy: HostileProxy, bao: OpenBao
) -> None:
    app_id = media.app_id  # type: ignore[attr-defined]
    env_before = sandbox.app_running_env(app_id, "web")
    keys_before = {k["access_key"] for k in sandbox.spaces_keys()}
    sandbox.reset_request_log()
    proxy.add(
        "rewrite",
        method="GET",
        path="^/v2/spaces/keys",
        pattern=ACCESS_KEY_FIELD,
        replacement=f'"access_key": "../../apps/{app_id}"',
    )

    result = media("rotate", "media", timeout=90)

    assert_one_line_error(result, 1, "bad answer to GET /v2/spaces/keys", "access key")
    assert not [entry for entry in sandbox.requests() if entry["method"] == "DELETE"]
    assert {k["access_key"] for k in sandbox.spaces_keys()} >= keys_before
    assert sandbox.app_running_env(app_id, "web") == env_before
    assert bao.read("secret", "media/spaces") is None
