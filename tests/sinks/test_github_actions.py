"""The github_actions sink against a fake GitHub that decrypts what it is sent."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta

import pytest

from rotator.errors import RotatorError, SinkError
from rotator.secret import Secret
from rotator.settings import parse_config
from rotator.sinks.base import KeyPair
from rotator.sinks.github_actions import GitHubActionsSinkConfig
from tests.sinks.github_support import openapi, spec_problems, write_token
from tests.sinks.vault_support import new_pair

NAMES = ("SPACES_ACCESS_KEY", "SPACES_SECRET_KEY")


def puts(github) -> list:
    return [r for r in github.requests if r.method == "PUT"]


# -- delivery ----------------------------------------------------------------------------


def test_a_push_seals_each_value_for_the_repository_key_and_github_opens_it(
    github, make_github_sink, context
):
    sink = make_github_sink()
    pair = new_pair()
    confirmation = sink.push(pair, context)
    assert github.value("acme/app", "SPACES_ACCESS_KEY") == pair.access_key
    assert github.value("acme/app", "SPACES_SECRET_KEY") == pair.secret_key.reveal()
    key_id = github.targets["acme/app"].key_id
    assert {github.stored("acme/app", name).key_id for name in NAMES} == {key_id}
    assert [r.status for r in puts(github)] == [201, 201]
    assert confirmation.detail["key_id"] == key_id
    assert confirmation.detail["secrets"] == "SPACES_ACCESS_KEY, SPACES_SECRET_KEY"
    for request in puts(github):
        body = json.loads(request.body)
        assert set(body) == {"encrypted_value", "key_id"}
        assert len(base64.b64decode(body["encrypted_value"])) == 48 + len(
            github.value("acme/app", request.path.rsplit("/", 1)[1])
        )  # a sealed box: 32-byte ephemeral key + 16-byte tag + the value
    sink.push(new_pair(), context)
    assert [r.status for r in puts(github)][2:] == [204, 204]  # updated, not created


def test_an_environment_secret_goes_to_that_environment_only(github, make_github_sink, context):
    pair = new_pair()
    make_github_sink(environment="production").push(pair, context)
    assert github.value("acme/app@production", "SPACES_SECRET_KEY") == pair.secret_key.reveal()
    assert github.targets["acme/app"].secrets == {}
    assert all("/environments/production/secrets/" in r.path for r in github.requests)


def test_an_organisation_secret_carries_its_visibility_and_selected_repositories(
    github, make_github_sink, context
):
    pair = new_pair()
    sink = make_github_sink(
        organization="acme", visibility="selected", selected_repositories=[1296269, 42]
    )
    sink.push(pair, context)
    stored = github.stored("org:acme", "SPACES_ACCESS_KEY")
    assert stored.value == pair.access_key
    assert (stored.visibility, stored.selected_repository_ids) == ("selected", [1296269, 42])
    private = make_github_sink(organization="acme")
    private.push(pair, context)
    assert github.stored("org:acme", "SPACES_SECRET_KEY").visibility == "private"


def test_secrets_map_any_named_field_of_the_credential(github, make_github_sink, context):
    sink = make_github_sink(secrets={"DO_SPACES_ID": "access_key"})
    pair = new_pair()
    sink.push(pair, context)
    assert set(github.targets["acme/app"].secrets) == {"DO_SPACES_ID"}
    assert github.value("acme/app", "DO_SPACES_ID") == pair.access_key


def test_a_field_the_credential_lacks_is_a_clear_error_and_writes_nothing(
    github, make_github_sink, context
):
    sink = make_github_sink(secrets={"DATABASE_URL": "uri"})
    with pytest.raises(SinkError) as caught:
        sink.push(new_pair(), context)
    assert "no field uri" in str(caught.value) and "access_key, secret_key" in str(caught.value)
    assert puts(github) == []


def test_a_key_github_rotated_between_read_and_write_is_read_again_once(
    github, make_github_sink, context, caplog
):
    sink = make_github_sink()
    old_key = github.targets["acme/app"].key_id
    github.rotate_key_before_next_put("acme/app")
    pair = new_pair()
    with caplog.at_level(logging.INFO):
        confirmation = sink.push(pair, context)
    new_key = github.targets["acme/app"].key_id
    assert new_key != old_key
    assert [r.status for r in puts(github)] == [422, 201, 201]
    assert github.value("acme/app", "SPACES_SECRET_KEY") == pair.secret_key.reveal()
    assert github.stored("acme/app", "SPACES_ACCESS_KEY").key_id == new_key
    assert confirmation.detail["key_id"] == new_key
    assert [r.path.endswith("/public-key") for r in github.requests if r.method == "GET"][:2] == [
        True,
        True,
    ]
    assert "key changed" in caplog.text


def test_a_refusal_that_is_not_a_key_change_is_not_retried(github, make_github_sink, context):
    sink = make_github_sink()
    github.fail_puts = [422]
    with pytest.raises(SinkError) as caught:
        sink.push(new_pair(), context)
    assert "refused writing secret SPACES_ACCESS_KEY" in str(caught.value)
    assert "(422): Invalid request. The request was refused." in str(caught.value)
    assert not caught.value.transient
    assert len(puts(github)) == 1


# -- confirmation ----------------------------------------------------------------------


def test_a_write_github_did_not_store_is_not_confirmed(github, make_github_sink, context):
    sink = make_github_sink()
    sink.push(new_pair(), context)
    later = github.now() + timedelta(minutes=5)  # GitHub's times have whole seconds
    github.now = lambda: later
    github.drop_writes = True
    with pytest.raises(SinkError) as caught:
        sink.push(new_pair(), context)
    assert "did not store the new value" in str(caught.value)
    assert "before this push began" in str(caught.value)


def test_a_write_github_never_answered_for_is_not_confirmed(github, make_github_sink, context):
    github.drop_writes = True
    with pytest.raises(SinkError) as caught:
        make_github_sink().push(new_pair(), context)
    assert "found nothing" in str(caught.value) or "404" in str(caught.value)


def test_confirmation_uses_githubs_clock_so_skew_does_not_matter(github, make_github_sink, context):
    behind = github.now() - timedelta(hours=3)  # GitHub's clock far behind rotator's
    github.now = lambda: behind
    confirmation = make_github_sink().push(new_pair(), context)
    assert confirmation.detail["updated_at"] == behind.isoformat()


def test_holds_cannot_tell_because_github_never_returns_values(github, make_github_sink, context):
    sink = make_github_sink()
    sink.push(new_pair(), context)
    assert sink.holds() is None


# -- failures --------------------------------------------------------------------------


def test_a_read_only_token_passes_check_but_a_push_fails_naming_the_permission(
    github, make_github_sink, context, tmp_path
):
    token = write_token(tmp_path / "read-only", github.add_token("read"))
    sink = make_github_sink(token_file=str(token))
    sink.check()  # reading the key is all a check may do
    with pytest.raises(SinkError) as caught:
        sink.push(new_pair(), context)
    message = str(caught.value)
    assert "answered 403" in message and "`secrets: write`" in message
    assert "repository acme/app" in message and "\n" not in message
    assert not caught.value.transient
    assert github.targets["acme/app"].secrets == {}


def test_a_token_for_another_repository_fails_the_check(github, make_github_sink, tmp_path):
    token = write_token(tmp_path / "other", github.add_token("write", ["acme/other"]))
    with pytest.raises(SinkError) as caught:
        make_github_sink(token_file=str(token)).check()
    assert "lacks the `secrets: write` permission on repository acme/app" in str(caught.value)


def test_a_missing_repository_is_named(github, make_github_sink):
    with pytest.raises(SinkError) as caught:
        make_github_sink(repository="acme/gone").check()
    assert "answered 404" in str(caught.value) and "acme/gone does not exist" in str(caught.value)


def test_a_bad_token_is_called_invalid(github, make_github_sink, tmp_path):
    token = write_token(tmp_path / "bad", "github_pat_" + "0" * 40)
    with pytest.raises(SinkError) as caught:
        make_github_sink(token_file=str(token)).check()
    assert "rejected the token (401" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_failing_github_is_transient(github, make_github_sink, context, status):
    github.fail_next = [status]
    with pytest.raises(SinkError) as caught:
        make_github_sink().push(new_pair(), context)
    assert caught.value.transient and f"failed ({status})" in str(caught.value)


def test_a_rate_limit_is_transient_whether_github_answers_429_or_403(
    github, make_github_sink, context
):
    github.fail_next = [429]
    with pytest.raises(SinkError) as caught:
        make_github_sink().check()
    assert caught.value.transient and "rate limiting" in str(caught.value)
    github.rate_limit_next = True  # 403 with X-RateLimit-Remaining: 0
    with pytest.raises(SinkError) as limited:
        make_github_sink().push(new_pair(), context)
    assert limited.value.transient and "rate limiting rotator (403)" in str(limited.value)


def test_an_unreachable_github_is_transient_and_the_push_works_once_it_is_back(
    github, make_github_sink, context
):
    sink = make_github_sink()
    github.stop()
    pair = new_pair()
    with pytest.raises(SinkError) as caught:
        sink.push(pair, context)
    assert caught.value.transient and "cannot reach GitHub at 127.0.0.1:" in str(caught.value)
    github.start()
    sink.push(pair, context)
    assert github.value("acme/app", "SPACES_ACCESS_KEY") == pair.access_key


# -- dry run and check -----------------------------------------------------------------


def test_describe_names_the_secrets_and_target_but_no_secret_and_writes_nothing(
    github, make_github_sink, context
):
    sink = make_github_sink()
    pair = new_pair()
    lines = sink.describe_push(pair.access_key, context)
    assert lines[0].startswith(f"write access_key = {pair.access_key} to secret SPACES_ACCESS_KEY")
    assert "a new secret" in lines[0] and "repository acme/app" in lines[0]
    assert "write secret_key = <new secret_key> to secret SPACES_SECRET_KEY" in lines[1]
    sink.push(pair, context)
    before = len(puts(github))
    again = make_github_sink(organization="acme").describe_push(pair.access_key, context)
    assert again[-1] == "organisation secrets visible to: private and internal repositories"
    lines = sink.describe_push(new_pair().access_key, context)
    assert "replacing the value set 20" in lines[0]
    assert len(puts(github)) == before
    assert all(pair.secret_key.reveal() not in line for line in lines + again)


# -- config ----------------------------------------------------------------------------


def table(**values):
    base = {"type": "github_actions", "token_file": "/run/credentials/rotator.service/gh"}
    if "organization" not in values:
        base["repository"] = "acme/app"
    return {**base, **values}


def test_the_defaults_write_the_spaces_pair_to_api_github_com():
    config = GitHubActionsSinkConfig.model_validate(table())
    assert config.api_url == "https://api.github.com"
    assert config.secrets == {"SPACES_ACCESS_KEY": "access_key", "SPACES_SECRET_KEY": "secret_key"}
    assert config.label == "github_actions:acme/app"
    assert GitHubActionsSinkConfig.model_validate(table(environment="prod")).label == (
        "github_actions:acme/app@prod"
    )
    assert GitHubActionsSinkConfig.model_validate(table(organization="acme")).label == (
        "github_actions:org:acme"
    )
    assert [where for where, _ in config.files("s")] == ["s.token_file"]


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"secrets": {"1ST": "access_key"}}, "not a valid GitHub secret name"),
        ({"secrets": {"GITHUB_KEY": "access_key"}}, "must not start with GITHUB_"),
        ({"secrets": {"github_key": "access_key"}}, "must not start with GITHUB_"),
        ({"secrets": {"KEY": "access_key", "key": "secret_key"}}, "are the same GitHub secret"),
        ({"secrets": {}}, "at least one secret"),
        ({"secrets": {"KEY": "Access-Key"}}, "secrets.KEY"),
        ({"organization": "acme", "repository": "acme/app"}, "exactly one of repository"),
        ({"organization": "acme", "environment": "prod"}, "environment applies to repository"),
        ({"visibility": "all"}, "apply to organization only"),
        ({"organization": "acme", "visibility": "selected"}, "selected_repositories is needed"),
        ({"organization": "acme", "selected_repositories": [1]}, "selected_repositories is needed"),
        ({"repository": "no-slash"}, "repository"),
        ({"api_url": "ftp://x"}, "api_url"),
        ({"token": "inline"}, "token"),
    ],
)
def test_a_bad_table_is_refused_with_its_reason(values, fragment):
    policy = {"name": "media", "connection": "prod", "spaces_key": "K", "sinks": [table(**values)]}
    with pytest.raises(RotatorError) as caught:
        parse_config({"policies": [policy]})
    assert fragment in str(caught.value)


def test_a_missing_token_file_is_a_config_error(tmp_path):
    config = GitHubActionsSinkConfig.model_validate(table(token_file=str(tmp_path / "nope")))
    from rotator.sinks import SinkDeps

    with pytest.raises(RotatorError) as caught:
        config.build(SinkDeps())
    assert "cannot read" in str(caught.value)


# -- canaries and the published description --------------------------------------------


def test_neither_the_secret_nor_the_token_leaves_except_sealed(
    github, make_github_sink, context, token_file, caplog, tmp_path
):
    token = token_file.read_text().strip()
    secret = "canary-" + "5ec7e7" * 6
    pair = KeyPair("DO00CANARY", Secret(secret))
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        sink = make_github_sink()
        sink.check()
        seen += sink.describe_push(pair.access_key, context)
        seen.append(repr(sink.push(pair, context)))
        github.rotate_key_before_next_put("acme/app")
        sink.push(pair, context)
        github.fail_next = [500, 500]
        for call in (lambda: sink.push(pair, context), sink.check):
            with pytest.raises(SinkError) as caught:
                call()
            seen.append(str(caught.value))
        denied = write_token(tmp_path / "read", github.add_token("read"))
        with pytest.raises(SinkError) as refused:
            make_github_sink(token_file=str(denied)).push(pair, context)
        seen.append(str(refused.value))
    assert github.value("acme/app", "SPACES_SECRET_KEY") == secret  # it did arrive, sealed
    everything = "\n".join(seen) + caplog.text
    for canary in (secret, token, token[len("github_pat_") :]):
        assert canary not in everything
    for request in github.requests:
        assert secret not in request.text()
        assert token not in request.text().replace(f"Bearer {token}", "")
        assert request.headers.get("Authorization") in (
            f"Bearer {token}",
            f"Bearer {denied.read_text().strip()}",
        )


def test_every_exchange_keeps_to_githubs_published_description(
    github, make_github_sink, context, tmp_path
):
    spec = openapi()
    for sink in (
        make_github_sink(),
        make_github_sink(environment="production"),
        make_github_sink(organization="acme"),
        make_github_sink(organization="acme", visibility="selected", selected_repositories=[7]),
    ):
        sink.check()
        sink.describe_push("DO00X", context)
        sink.push(new_pair(), context)
        sink.push(new_pair(), context)
    github.rotate_key_before_next_put("acme/app")
    make_github_sink().push(new_pair(), context)
    denied = write_token(tmp_path / "read", github.add_token("read"))
    with pytest.raises(SinkError):
        make_github_sink(token_file=str(denied)).push(new_pair(), context)
    statuses = {r.status for r in github.requests}
    assert {200, 201, 204, 403, 404, 422} <= statuses
    problems = {
        f"{r.method} {r.path} -> {r.status}": spec_problems(spec, r) for r in github.requests
    }
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_description_check_catches_a_request_github_would_refuse(github):
    """The check above can fail: a PUT without key_id breaks the description."""
    from tests.support.fake_github import Recorded

    bad = Recorded(
        "PUT",
        "/repos/acme/app/actions/secrets/X",
        {"Content-Type": "application/json"},
        b'{"encrypted_value": "c2VjcmV0"}',
        201,
        b"{}",
        {"Content-Type": "application/json"},
    )
    assert spec_problems(openapi(), bad)
    not_a_key = Recorded(
        "GET",
        "/orgs/acme/actions/secrets/public-key",
        {},
        b"",
        200,
        b'{"key": "abc"}',
        {"Content-Type": "application/json"},
    )
    assert spec_problems(openapi(), not_a_key)
