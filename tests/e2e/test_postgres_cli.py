"""The CLI on a PostgreSQL store (ROTATOR_DATABASE_URL), as a user runs it.

The password in the URL is a canary: no output of any command, failed ones
included, may show it.
"""

from __future__ import annotations

import json

import pytest

from rotator.sandbox.ports import free_port
from tests.support.cli import ROTATION_SCOPES, Rotator, assert_one_line_error, media_policy
from tests.support.postgres import PASSWORD, PostgresCluster

SCOPES = ["account:read"]


@pytest.fixture
def on_postgres(rotator: Rotator, postgres_url: str) -> Rotator:
    rotator.env["ROTATOR_DATABASE_URL"] = postgres_url
    rotator.env["ROTATOR_LOG_LEVEL"] = "DEBUG"  # the chattiest logs are the riskiest
    return rotator


def _never_shows_the_password(run: Rotator) -> None:
    outputs = "\n".join(result.output for result in run.transcript)
    assert PASSWORD not in outputs
    files = b"".join(path.read_bytes() for path in run.state_dir.rglob("*") if path.is_file())
    assert PASSWORD.encode() not in files


def test_init_creates_the_schema_once_and_no_store_file(on_postgres, postgres_url):
    run = on_postgres
    first = run("init")
    assert first.code == 0, first.output
    assert "PostgreSQL database" in first.stdout
    assert "(created)" in first.stdout
    again = run("init")
    assert again.code == 0, again.output
    assert "(existing)" in again.stdout
    assert not run.store_path.exists()
    assert not (run.state_dir / "rotator.lock").exists()
    events = [e["event"] for e in json.loads(run("history", "--json").stdout)]
    assert events.count("store_created") == 1
    _never_shows_the_password(run)


def test_connections_rotation_history_and_rekey_work_on_postgresql(on_postgres, sandbox):
    run = on_postgres
    app_id = sandbox.app_ids()[0]
    run.config.write_text(media_policy(app_id))
    assert run("init").code == 0
    assert run.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    assert run.add("spare", sandbox.add_token(SCOPES)).code == 0
    listed = json.loads(run("connection", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["prod", "spare"]
    shown = json.loads(run("connection", "show", "spare", "--json").stdout)
    assert (shown["version"], shown["status"]) == (1, "valid")
    assert run("connection", "remove", "spare", "--yes").code == 0
    assert run("connection", "show", "spare").code == 2

    rotated = run("rotate", "media", "--json")
    assert rotated.code == 0, rotated.output
    result = json.loads(rotated.stdout)
    assert result["status"] == "succeeded"
    assert result["new_access_key"] != result["old_access_key"]
    envs = sandbox.app_running_env(app_id, "web")
    assert envs["SPACES_KEY"] == result["new_access_key"]

    events = [e["event"] for e in json.loads(run("history", "--json").stdout)]
    for event in ("connection_added", "connection_removed", "rotation_promoted"):
        assert event in events

    key_file = run.state_dir / "master.key"
    old_key = key_file.read_text()
    rekeyed = run("rekey")
    assert rekeyed.code == 0, rekeyed.output
    assert "re-sealed 2 records" in rekeyed.stdout  # the token and the new key's secret
    assert key_file.read_text() != old_key
    assert run("connection", "validate", "--all").code == 0
    status = json.loads(run("status", "--json").stdout)
    assert status["store"].startswith("PostgreSQL database")
    once = run("run", "--once")
    assert once.code == 0, once.output
    _never_shows_the_password(run)


def test_a_wrong_password_is_one_error_line_naming_host_and_database_not_the_password(
    on_postgres, postgres_cluster: PostgresCluster, postgres_url
):
    run = on_postgres
    assert run("init").code == 0
    database = postgres_url.rsplit("/", 1)[1].split("?")[0]
    wrong = postgres_cluster.url(database, password=PASSWORD + "-wrong")
    for command in (["connection", "list"], ["init"], ["rekey"], ["status"]):
        result = run(*command, env={"ROTATOR_DATABASE_URL": wrong})
        assert_one_line_error(result, 1, "127.0.0.1", f'"{database}"', "password authentication")
    _never_shows_the_password(run)


def test_a_server_that_is_down_is_one_error_line_without_the_password(
    on_postgres, postgres_cluster: PostgresCluster
):
    run = on_postgres
    assert run("init").code == 0
    url = postgres_cluster.url("rotator", port=free_port())
    result = run("connection", "list", env={"ROTATOR_DATABASE_URL": url})
    assert_one_line_error(result, 1, "cannot connect to", "127.0.0.1", '"rotator"')
    _never_shows_the_password(run)


def test_the_url_can_come_from_a_file(on_postgres, postgres_url, tmp_path):
    run = on_postgres
    url_file = tmp_path / "database-url"
    url_file.write_text(postgres_url + "\n")
    url_file.chmod(0o600)
    del run.env["ROTATOR_DATABASE_URL"]
    run.env["ROTATOR_DATABASE_URL_FILE"] = str(url_file)
    assert run("init").code == 0
    assert run("connection", "list", "--json").stdout.strip() == "[]"
    both = run("connection", "list", env={"ROTATOR_DATABASE_URL": postgres_url})
    assert_one_line_error(both, 2, "not both")
    _never_shows_the_password(run)


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://rotator:{PASSWORD}@127.0.0.1/db",
        f"postgresql://rotator:{PASSWORD}%zz@127.0.0.1/db",
        f"postgresql://rotator:{PASSWORD}@127.0.0.1:notaport/db",
    ],
)
def test_a_malformed_url_is_one_error_line_that_does_not_echo_it(on_postgres, url):
    run = on_postgres
    assert run("init").code == 0
    result = run("connection", "list", env={"ROTATOR_DATABASE_URL": url})
    assert result.code in (1, 2), result.output
    assert_one_line_error(result, result.code)
    _never_shows_the_password(run)


def test_sslmode_in_the_url_reaches_the_driver(on_postgres, postgres_url):
    run = on_postgres
    assert run("init").code == 0
    required = postgres_url.replace("sslmode=disable", "sslmode=require")
    result = run("connection", "list", env={"ROTATOR_DATABASE_URL": required})
    # The test server has no TLS: a refusal proves sslmode was honoured, not dropped.
    assert_one_line_error(result, 1, "cannot connect to", "SSL")
    _never_shows_the_password(run)
