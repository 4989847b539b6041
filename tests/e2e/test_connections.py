"""The connection commands as an operator runs them, against the sandbox."""

import json

from tests.support.cli import assert_one_line_error

GOOD_SCOPES = ["account:read", "spaces_key:read"]


def test_init_creates_private_files_and_is_safe_to_run_twice(rotator):
    first = rotator("init")
    assert first.code == 0, first.output
    key = rotator.state_dir / "master.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert rotator.store_path.stat().st_mode & 0o777 == 0o600
    assert rotator.state_dir.stat().st_mode & 0o777 == 0o700
    key_text = key.read_text()
    second = rotator("init")
    assert second.code == 0, second.output
    assert key.read_text() == key_text
    assert "existing" in second.stdout


def test_a_valid_token_is_added_validated_and_shown_with_its_hash(initialised, sandbox):
    token = sandbox.add_token(GOOD_SCOPES)
    added = initialised.add("prod", token, "--description", "main account")
    assert added.code == 0, added.output
    shown = initialised("connection", "show", "prod", "--json")
    record = json.loads(shown.stdout)
    import hashlib

    assert record["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert record["version"] == 1
    assert record["status"] == "valid"
    assert record["description"] == "main account"
    for field in ("name", "created_at", "updated_at", "last_validated_at"):
        assert record[field]
    listed = json.loads(initialised("connection", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["prod"]


def test_a_new_token_bumps_the_version_and_a_description_change_does_not(initialised, sandbox):
    initialised.add("prod", sandbox.add_token(GOOD_SCOPES))
    described = initialised("connection", "update", "prod", "--description", "renamed", "--json")
    assert json.loads(described.stdout)["version"] == 1
    updated = initialised(
        "connection",
        "update",
        "prod",
        "--token-stdin",
        "--json",
        stdin=sandbox.add_token(GOOD_SCOPES),
    )
    assert updated.code == 0, updated.output
    assert json.loads(updated.stdout)["version"] == 2


def test_validate_reports_each_token_and_exits_1_when_one_is_revoked(initialised, sandbox):
    good = sandbox.add_token(GOOD_SCOPES)
    bad = sandbox.add_token(GOOD_SCOPES)
    initialised.add("good", good)
    initialised.add("bad", bad)
    sandbox.revoke_token(bad)
    result = initialised("connection", "validate", "--all", "--json")
    assert result.code == 1
    statuses = {item["name"]: item["status"] for item in json.loads(result.stdout)}
    assert statuses == {"good": "valid", "bad": "invalid"}
    assert initialised("connection", "validate", "good").code == 0


def test_a_token_without_account_read_is_valid_with_a_warning(initialised, sandbox):
    result = initialised.add("narrow", sandbox.add_token(["spaces_key:read"]))
    assert result.code == 0, result.output
    assert "account:read" in result.stderr
    record = json.loads(initialised("connection", "show", "narrow", "--json").stdout)
    assert record["status"] == "valid"


def test_a_locked_account_is_reported(initialised, sandbox):
    sandbox.set_account_status("locked", "billing problem")
    result = initialised.add("prod", sandbox.add_token(GOOD_SCOPES))
    assert result.code == 0
    assert "locked" in result.stderr


def test_remove_asks_for_yes_when_not_on_a_terminal(initialised, sandbox):
    initialised.add("prod", sandbox.add_token(GOOD_SCOPES))
    before = initialised.dump()
    refused = initialised("connection", "remove", "prod")
    assert_one_line_error(refused, 2, "--yes")
    assert initialised.dump() == before
    assert initialised("connection", "remove", "prod", "--yes").code == 0
    assert json.loads(initialised("connection", "list", "--json").stdout) == []


def test_history_lists_changes_without_secrets(initialised, sandbox):
    token = sandbox.add_token(GOOD_SCOPES)
    initialised.add("prod", token)
    entries = json.loads(initialised("history", "--json").stdout)
    assert "connection_added" in [e["event"] for e in entries]
    assert token not in json.dumps(entries)


def test_status_summarises_connections(initialised, sandbox):
    initialised.add("prod", sandbox.add_token(GOOD_SCOPES))
    document = json.loads(initialised("status", "--json").stdout)
    assert document["connection_counts"] == {"valid": 1}
    assert initialised("status").code == 0


def test_version_and_help_work_without_any_setup(rotator):
    assert rotator("--version").stdout.startswith("rotator ")
    for args in (["--help"], ["connection", "--help"], ["connection", "add", "--help"]):
        assert rotator(*args).code == 0
