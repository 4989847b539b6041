"""`rotator rotate` into an App Platform app and a file read by a reloading service at once."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import ROTATION_SCOPES, media_policy


def file_table(file_world) -> str:
    table = file_world.table()
    return f"""
[[policies.sinks]]
type = "file"
path = "{table["path"]}"
reload = {json.dumps(table["reload"])}
check = "{table["check"]}"
check_timeout = "20s"
"""


@pytest.fixture
def media(initialised, sandbox, file_world):
    app_id = sandbox.app_ids()[0]
    initialised.config.write_text(
        "[digitalocean]\nretries = 1\n" + media_policy(app_id, more_sinks=file_table(file_world))
    )
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    initialised.env["ROTATOR_LOG_LEVEL"] = "DEBUG"
    initialised.app_id = app_id
    return initialised


def secret_of(sandbox, access_key: str) -> str:
    return next(k["secret_key"] for k in sandbox.spaces_keys() if k["access_key"] == access_key)


def test_a_rotation_reaches_the_app_and_the_reloaded_service(media, sandbox, file_world):
    result = media("rotate", "media", "--json")
    assert result.code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "succeeded"
    assert {s["type"]: s["status"] for s in document["sinks"]} == {
        "app_platform": "confirmed",
        "file": "confirmed",
    }
    new_key = document["new_access_key"]
    assert file_world.consumer.held() == new_key
    assert file_world.file()["SPACES_SECRET_KEY"] == secret_of(sandbox, new_key)
    assert sandbox.app_running_env(media.app_id, "web")["SPACES_KEY"] == new_key
    secret = secret_of(sandbox, new_key)
    assert secret not in result.output
    assert secret not in json.dumps(file_world.reloads())


def test_a_dry_run_says_what_the_file_sink_would_write_and_run_and_changes_nothing(
    media, sandbox, file_world
):
    before = (sandbox.snapshot(), media.dump())
    result = media("rotate", "media", "--dry-run")
    assert result.code == 0, result.output
    assert "SPACES_ACCESS_KEY=access_key, SPACES_SECRET_KEY=secret_key" in result.stdout
    assert "rotator.sandbox.consumer reload" in result.stdout
    assert (sandbox.snapshot(), media.dump()) == before
    assert not file_world.path.exists() and file_world.reloads() == []


def test_config_check_proves_the_file_sink_and_refuses_a_symlinked_path(
    media, file_world, tmp_path
):
    checked = media("config", "check")
    assert checked.code == 0, checked.output
    assert not file_world.path.exists() and file_world.reloads() == []
    file_world.path.symlink_to(tmp_path / "elsewhere")
    refused = media("config", "check")
    assert refused.code == 2
    assert "policies[0].sinks[1]" in refused.stderr and "symbolic link" in refused.stderr
    assert "Traceback" not in refused.output
