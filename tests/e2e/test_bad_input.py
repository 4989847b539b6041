"""Every bad input: one clear line on stderr, exit 1 or 2, and the store unchanged."""

import os
import sqlite3
import subprocess
import sys

import pytest

from rotator.crypto import MasterKey
from tests.support.cli import assert_one_line_error

SCOPES = ["account:read"]


@pytest.fixture
def populated(initialised, sandbox):
    assert initialised.add("prod", sandbox.add_token(SCOPES)).code == 0
    assert initialised.add("other", sandbox.add_token(SCOPES)).code == 0
    return initialised


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("not-a-token", "not a DigitalOcean API token"),
        ("dop_v1_" + "A" * 64, "not a DigitalOcean API token"),
        ("dop_v1_" + "a" * 63, "not a DigitalOcean API token"),
        ("dor_v1_" + "a" * 64, "refresh token"),
    ],
)
def test_a_malformed_or_refresh_token_is_refused(populated, token, fragment):
    before = populated.dump()
    result = populated.add("new", token)
    assert_one_line_error(result, 2, fragment)
    assert token not in result.output
    assert populated.dump() == before


def test_a_duplicate_name_is_refused_before_the_token_is_read(populated, sandbox):
    before = populated.dump()
    assert_one_line_error(populated.add("prod", sandbox.add_token(SCOPES)), 2, "already exists")
    assert populated.dump() == before


@pytest.mark.parametrize("name", ["Prod", "_x", "a b", "x" * 64, "dot.name", "é"])
def test_an_invalid_name_is_refused(populated, sandbox, name):
    before = populated.dump()
    assert_one_line_error(
        populated.add(name, sandbox.add_token(SCOPES)), 2, "invalid connection name"
    )
    assert populated.dump() == before


@pytest.mark.parametrize(
    "command",
    [
        ["connection", "show", "nope"],
        ["connection", "validate", "nope"],
        ["connection", "remove", "nope", "--yes"],
        ["connection", "update", "nope", "--description", "x"],
    ],
)
def test_an_unknown_connection_is_named(populated, command):
    before = populated.dump()
    assert_one_line_error(populated(*command), 2, "no connection named 'nope'")
    assert populated.dump() == before


def test_a_revoked_token_is_not_stored(populated, sandbox):
    token = sandbox.add_token(SCOPES)
    sandbox.revoke_token(token)
    before = populated.dump()
    result = populated.add("new", token)
    assert_one_line_error(result, 1, "invalid")
    assert populated.dump() == before


def test_the_wrong_master_key_is_refused(populated):
    before = populated.dump()
    key_file = populated.state_dir / "master.key"
    key_file.unlink()
    assert_one_line_error(populated("init"), 2, "restore the key from your backup")
    assert not key_file.exists()
    populated.env["ROTATOR_MASTER_KEY"] = MasterKey.generate_text().reveal()
    for command in (["connection", "list"], ["connection", "validate", "prod"]):
        assert_one_line_error(populated(*command), 2, "master key does not open this store")
    assert populated.dump() == before


def test_a_missing_key_file_says_how_to_fix_it(populated):
    (populated.state_dir / "master.key").unlink()
    assert_one_line_error(populated("connection", "list"), 2, "not found", "rotator init")


def test_a_world_readable_key_file_is_refused(populated):
    os.chmod(populated.state_dir / "master.key", 0o644)
    assert_one_line_error(populated("connection", "list"), 2, "chmod 600")


def _db(populated):
    return sqlite3.connect(populated.store_path, isolation_level=None)


def test_tampered_ciphertext_is_refused_and_nothing_changes(populated):
    db = _db(populated)
    sealed = db.execute("SELECT token_sealed FROM connections WHERE name='prod'").fetchone()[0]
    flipped = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    db.execute("UPDATE connections SET token_sealed=? WHERE name='prod'", (flipped,))
    db.close()
    before = populated.dump()
    assert_one_line_error(populated("connection", "validate", "prod"), 1, "failed authentication")
    assert populated.dump() == before


def test_ciphertext_swapped_between_records_is_refused(populated):
    db = _db(populated)
    sealed = dict(db.execute("SELECT name, token_sealed FROM connections"))
    db.execute("UPDATE connections SET token_sealed=? WHERE name='prod'", (sealed["other"],))
    db.close()
    before = populated.dump()
    assert_one_line_error(populated("connection", "validate", "prod"), 1, "connection 'prod'")
    assert populated.dump() == before


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_store_file_is_refused(populated, damage):
    path = populated.store_path
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"garbage" * 500)
    for command in (["connection", "list"], ["connection", "add", "x", "--token-stdin"]):
        result = populated(*command, stdin="")
        assert result.code in (1, 2)
        assert_one_line_error(result, result.code, "rotator.db")


def test_a_store_locked_by_another_process_is_refused(populated, sandbox):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "h = os.open(sys.argv[1], os.O_RDWR)\n"
            "fcntl.flock(h, fcntl.LOCK_EX); os.write(h, b'pid 1: holder')\n"
            "print('locked', flush=True)\n"
            "time.sleep(30)\n",
            str(populated.state_dir / "rotator.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = populated.dump()
        result = populated.add("new", sandbox.add_token(SCOPES))
        assert_one_line_error(result, 1, "in use by another process")
        assert populated.dump() == before
        assert populated("connection", "list").code == 0  # readers are not blocked
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_a_config_with_unknown_keys_and_bad_durations_is_refused(populated):
    populated.config.write_text('[daemon]\nvalidate_every = "often"\ncolour = "red"\n')
    before = populated.dump()
    checked = populated("config", "check")
    assert checked.code == 2
    assert "daemon.validate_every" in checked.stderr and "daemon.colour" in checked.stderr
    assert "Traceback" not in checked.output
    assert_one_line_error(populated("connection", "list"), 2, "daemon.colour: unknown key")
    assert populated.dump() == before


def test_a_good_config_checks_clean(populated):
    populated.config.write_text('[daemon]\nvalidate_every = "30m"\n')
    result = populated("config", "check")
    assert result.code == 0, result.output
    assert "config ok" in result.stdout


def test_a_command_before_init_says_to_run_init(rotator):
    assert_one_line_error(rotator("connection", "list"), 2, "rotator init")
