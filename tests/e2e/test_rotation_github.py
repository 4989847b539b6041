"""`rotator rotate` from the sandbox into GitHub Actions secrets (a fake GitHub that decrypts)."""

from __future__ import annotations

import json
import time

import pytest

from rotator.alerts.webhook import verify_signature
from tests.support.cli import ROTATION_SCOPES, media_policy
from tests.support.fake_github import FakeGitHub

WEBHOOK_SECRET = "whsec-github-e2e-9a8b7c6d"
TARGETS = ("acme/app", "acme/app@production", "org:acme")


@pytest.fixture
def github():
    fake = FakeGitHub().start()
    for add in (
        lambda: fake.add_repository("acme/app"),
        lambda: fake.add_environment("acme/app", "production"),
        lambda: fake.add_organization("acme"),
    ):
        add()
    yield fake
    fake.stop()


def github_sinks(url: str, token_file: str) -> str:
    common = f'api_url = "{url}"\ntoken_file = "{token_file}"\ntimeout = "3s"\n'
    return f"""
[[policies.sinks]]
type = "github_actions"
repository = "acme/app"
{common}
[[policies.sinks]]
type = "github_actions"
repository = "acme/app"
environment = "production"
secrets = {{ DEPLOY_SPACES_KEY = "access_key", DEPLOY_SPACES_SECRET = "secret_key" }}
{common}
[[policies.sinks]]
type = "github_actions"
organization = "acme"
visibility = "selected"
selected_repositories = [1296269]
{common}"""


@pytest.fixture
def media(initialised, sandbox, github, receiver, tmp_path):
    token = github.add_token("write")
    token_file = tmp_path / "github-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(WEBHOOK_SECRET + "\n")
    app_id = sandbox.app_ids()[0]

    def configure(path: str) -> None:
        initialised.config.write_text(
            '[digitalocean]\nretries = 1\ntimeout = "2s"\n'
            f'[[alerts]]\ntype = "webhook"\nname = "ops"\nurl = "{receiver.url}/hook"\n'
            f'secret_file = "{secret_file}"\n'
            + media_policy(app_id, more_sinks=github_sinks(github.url, path))
        )

    configure(str(token_file))
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    initialised.app_id = app_id
    initialised.token = token
    initialised.token_file = token_file
    initialised.configure = configure
    return initialised


def secret_of(sandbox, access_key: str) -> str:
    return next(k["secret_key"] for k in sandbox.spaces_keys() if k["access_key"] == access_key)


def original(sandbox) -> str:
    return next(k["access_key"] for k in sandbox.spaces_keys() if k["name"] == "demo-media")


def alerts(receiver) -> list[dict]:
    for request in receiver.requests:
        header = request.headers.get("X-Rotator-Signature") or request.headers.get(
            "x-rotator-signature"
        )
        assert verify_signature(WEBHOOK_SECRET, header, request.body, now=time.time())
    return [request.json() for request in receiver.requests]


def test_a_rotation_reaches_repository_environment_and_organisation_secrets(media, sandbox, github):
    result = media("rotate", "media", "--json")
    assert result.code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "succeeded"
    assert [s["status"] for s in document["sinks"]] == ["confirmed"] * 4
    assert [s["type"] for s in document["sinks"]][1:] == ["github_actions"] * 3
    new_key = document["new_access_key"]
    secret = secret_of(sandbox, new_key)
    assert github.value("acme/app", "SPACES_ACCESS_KEY") == new_key
    assert github.value("acme/app", "SPACES_SECRET_KEY") == secret
    assert github.value("acme/app@production", "DEPLOY_SPACES_KEY") == new_key
    assert github.value("acme/app@production", "DEPLOY_SPACES_SECRET") == secret
    assert github.value("org:acme", "SPACES_SECRET_KEY") == secret
    assert github.stored("org:acme", "SPACES_SECRET_KEY").selected_repository_ids == [1296269]
    for target in TARGETS:  # each sealed for its own target's key
        key_id = github.targets[target].key_id
        assert {s.key_id for s in github.targets[target].secrets.values()} == {key_id}
    assert secret not in result.output and media.token not in result.output
    for request in github.requests:
        assert secret not in request.text()
        assert media.token not in request.text().replace(f"Bearer {media.token}", "")


def test_a_dry_run_says_what_it_would_write_and_changes_nothing(media, sandbox, github):
    before = (sandbox.snapshot(), media.dump())
    result = media("rotate", "media", "--dry-run")
    assert result.code == 0, result.output
    assert "nothing was changed" in result.stdout
    assert "to secret SPACES_ACCESS_KEY of repository acme/app" in result.stdout
    assert "secret DEPLOY_SPACES_SECRET of environment 'production'" in result.stdout
    assert "organisation secrets visible to: selected repositories (1296269)" in result.stdout
    assert [r for r in github.requests if r.method != "GET"] == []
    assert all(target.secrets == {} for target in github.targets.values())
    assert (sandbox.snapshot(), media.dump()) == before


def test_config_check_reads_the_public_keys_and_names_a_target_it_cannot_reach(
    media, github, tmp_path
):
    checked = media("config", "check")
    assert checked.code == 0, checked.output
    assert {(r.method, r.path.rsplit("/", 1)[1]) for r in github.requests} == {
        ("GET", "public-key")
    }
    stranger = tmp_path / "stranger-token"
    stranger.write_text(github.add_token("write", ["acme/other"]) + "\n")
    media.configure(str(stranger))
    refused = media("config", "check")
    assert refused.code == 2
    assert "policies[0].sinks[1]" in refused.stderr
    assert "lacks the `secrets: write` permission on repository acme/app" in refused.stderr
    assert "Traceback" not in refused.output
    assert stranger.read_text().strip() not in refused.output


def test_a_forbidden_target_fails_the_rotation_keeps_the_old_key_and_alerts(
    media, sandbox, github, receiver, tmp_path
):
    old = original(sandbox)
    read_only = tmp_path / "read-only-token"
    read_only.write_text(github.add_token("read") + "\n")
    media.configure(str(read_only))
    result = media("rotate", "media", "--json")
    assert result.code == 1
    document = json.loads(result.stdout)
    assert document["status"] == "failed"
    assert {s["name"]: s["status"] for s in document["sinks"]}[
        "github_actions:acme/app"
    ] == "failed"
    assert "`secrets: write`" in result.stderr and "repository acme/app" in result.stderr
    assert "Traceback" not in result.output
    assert {old, document["new_access_key"]} <= {k["access_key"] for k in sandbox.spaces_keys()}
    status = json.loads(media("status", "--json").stdout)["policies"][0]
    assert status["current_access_key"] == old
    events = [a["event"] for a in alerts(receiver)]
    assert "sink_failed" in events or "rotation_failed" in events
    everything = "".join(r.body.decode() for r in receiver.requests)
    assert secret_of(sandbox, document["new_access_key"]) not in everything
    assert read_only.read_text().strip() not in everything


def test_an_unreachable_github_fails_transiently_and_the_next_run_resumes_the_same_key(
    media, sandbox, github
):
    old = original(sandbox)
    github.stop()
    failed = media("rotate", "media", "--json")
    assert failed.code == 1
    first = json.loads(failed.stdout)
    assert first["status"] == "failed"
    assert "cannot reach GitHub" in failed.stderr
    github.start()
    resumed = media("rotate", "media", "--json")
    assert resumed.code == 0, resumed.output
    second = json.loads(resumed.stdout)
    assert second["status"] in ("resumed", "succeeded")
    assert second["new_access_key"] == first["new_access_key"]  # no third key
    assert github.value("acme/app", "SPACES_ACCESS_KEY") == first["new_access_key"]
    assert old in {k["access_key"] for k in sandbox.spaces_keys()}  # alive through the grace
