"""`rotator config check` asks DigitalOcean and the sinks about each policy, reading only."""

import pytest

from rotator.sandbox.ports import free_port
from tests.support.cli import ROTATION_SCOPES, media_policy

ALL = ROTATION_SCOPES


def policy(app_id: str, *, key: str = "demo-media", component: str = "web") -> str:
    return media_policy(app_id, spaces_key=key, component=component)


@pytest.fixture
def checked(initialised, sandbox):
    """Register `prod` with the given scopes, write the config, run `config check`."""

    def run(config: str, scopes=ALL, **env):
        assert initialised.add("prod", sandbox.add_token(scopes)).code == 0
        initialised.config.write_text("[digitalocean]\nretries = 0\n" + config)
        return initialised("config", "check", env=env)

    return run


def test_a_policy_that_matches_digitalocean_checks_clean(checked, sandbox):
    result = checked(policy(sandbox.app_ids()[0]))
    assert result.code == 0, result.output
    assert "config ok" in result.stdout
    assert {r["method"] for r in sandbox.requests()} - {"GET"} == set()


def test_a_spaces_key_that_does_not_exist_is_an_error(checked, sandbox):
    result = checked(policy(sandbox.app_ids()[0], key="no-such-key"))
    assert result.code == 2
    assert "policies[0].spaces_key: no Spaces key with access key or name 'no-such-key'" in (
        result.stderr
    )


def test_a_token_without_the_scopes_its_policy_needs_is_an_error(checked, sandbox):
    narrow = [s for s in ALL if s != "app:update"]
    result = checked(policy(sandbox.app_ids()[0]), scopes=narrow)
    assert result.code == 2
    assert "policies[0].connection: the token of 'prod' lacks app:update" in result.stderr


def test_an_unknown_app_component_is_an_error(checked, sandbox):
    result = checked(policy(sandbox.app_ids()[0], component="nope"))
    assert result.code == 2
    assert "policies[0].sinks[0]" in result.stderr and "nope" in result.stderr


def test_an_unreachable_digitalocean_is_a_note_not_an_error(checked, sandbox):
    result = checked(
        policy(sandbox.app_ids()[0]),
        ROTATOR_DO_API_URL="http://127.0.0.1:9",
        ROTATOR_DO_OAUTH_URL="http://127.0.0.1:9",
    )
    assert result.code == 0, result.output
    assert "note: policies[0]" in result.stderr
    assert "Traceback" not in result.output


def test_offline_checks_only_the_file(checked, sandbox, initialised):
    initialised.config.write_text(policy(sandbox.app_ids()[0], key="no-such-key"))
    assert initialised.add("prod", sandbox.add_token(ALL)).code == 0
    sandbox.reset_request_log()
    result = initialised("config", "check", "--offline")
    assert result.code == 0, result.output
    assert sandbox.requests() == []


def _vault_sink(url: str, token_file: str) -> str:
    return f"""
[[policies.sinks]]
type = "vault"
url = "{url}"
path = "media/spaces"
token_file = "{token_file}"
timeout = "2s"
"""


def test_an_unreachable_vault_is_a_note_not_an_error_like_digitalocean(checked, sandbox, tmp_path):
    token_file = tmp_path / "vault-token"
    token_file.write_text("s.some-token\n")
    url = f"http://127.0.0.1:{free_port()}"
    config = media_policy(sandbox.app_ids()[0], more_sinks=_vault_sink(url, str(token_file)))
    result = checked(config)
    assert result.code == 0, result.output
    assert "note: policies[0]: sink vault:secret/media/spaces not checked" in result.stderr
    assert "cannot reach Vault" in result.stderr
    assert "s.some-token" not in result.output
    assert "Traceback" not in result.output


def test_an_unreadable_vault_token_file_is_an_error_with_its_location(checked, sandbox, tmp_path):
    missing = tmp_path / "no-such-token"
    config = media_policy(
        sandbox.app_ids()[0], more_sinks=_vault_sink("http://127.0.0.1:1", str(missing))
    )
    result = checked(config)
    assert result.code == 2
    assert f"policies[0].sinks[1].token_file: cannot read {missing}" in result.stderr


def test_a_slack_url_file_that_holds_no_url_is_an_error_without_echoing_it(
    checked, sandbox, tmp_path
):
    url_file = tmp_path / "slack-url"
    url_file.write_text("T000/B000/not-a-url-secret-part\n")
    alert = f'\n[[alerts]]\ntype = "slack"\nurl_file = "{url_file}"\n'
    result = checked(media_policy(sandbox.app_ids()[0]) + alert)
    assert result.code == 2
    assert "alert channel slack-1: the Slack URL is not a URL" in result.stderr
    assert "not-a-url-secret-part" not in result.output
