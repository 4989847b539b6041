"""Hostile store files through the CLI: one `error:` line each, and nothing touched."""

import json
import os
import sqlite3

import pytest

from tests.support.cli import assert_one_line_error

SCOPES = ["account:read"]


@pytest.mark.parametrize("command", [["connection", "list"], ["history"], ["status"]])
def test_a_zero_byte_store_is_refused_alike_by_every_command_naming_init(initialised, command):
    initialised.store_path.write_bytes(b"")
    for wal in initialised.state_dir.glob("rotator.db-*"):
        wal.unlink()
    assert_one_line_error(initialised(*command), 1, "zero bytes", "rotator init")
    assert initialised.store_path.read_bytes() == b""


def test_a_zero_byte_store_is_refused_by_a_writer_and_set_up_by_init(initialised, sandbox):
    initialised.store_path.write_bytes(b"")
    for wal in initialised.state_dir.glob("rotator.db-*"):
        wal.unlink()
    result = initialised.add("prod", sandbox.add_token(SCOPES))
    assert_one_line_error(result, 1, "zero bytes", "rotator init")
    assert initialised("init").code == 0
    assert initialised.add("prod", sandbox.add_token(SCOPES)).code == 0


def test_a_foreign_sqlite_file_is_refused_and_left_byte_for_byte(initialised, sandbox):
    for path in initialised.state_dir.glob("rotator.db*"):
        path.unlink()
    db = sqlite3.connect(initialised.store_path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.commit()
    db.close()
    before = initialised.store_path.read_bytes()
    for command in (["init"], ["connection", "list"]):
        assert_one_line_error(initialised(*command), 1, "not a rotator store", "rotator.db")
    result = initialised.add("prod", sandbox.add_token(SCOPES))
    assert_one_line_error(result, 1, "not a rotator store")
    assert initialised.store_path.read_bytes() == before
    assert not list(initialised.state_dir.glob("rotator.db-*"))


@pytest.mark.parametrize("lock", ["rotator.lock", "daemon.lock"])
def test_a_symlinked_lock_is_refused_and_its_target_untouched(initialised, sandbox, lock):
    target = initialised.home / "precious"
    target.write_text("keep")
    (initialised.state_dir / lock).unlink(missing_ok=True)
    (initialised.state_dir / lock).symlink_to(target)
    if lock == "daemon.lock":
        result = initialised("run", "--once")
    else:
        result = initialised.add("prod", sandbox.add_token(SCOPES))
    assert_one_line_error(result, 2, f"{lock} is a symbolic link")
    assert target.read_text() == "keep"


def test_a_store_that_is_a_directory_is_one_clear_line(initialised):
    initialised.store_path.unlink()
    initialised.store_path.mkdir()
    assert_one_line_error(initialised("connection", "list"), 1, "is a directory")


def test_a_group_writable_state_directory_is_refused(initialised):
    initialised.state_dir.chmod(0o770)
    result = initialised("connection", "list")
    assert_one_line_error(result, 2, "can be written by other users", "chmod 700")


def test_a_hand_edited_timestamp_is_one_clear_line(initialised, sandbox):
    assert initialised.add("prod", sandbox.add_token(SCOPES)).code == 0
    db = sqlite3.connect(initialised.store_path, isolation_level=None)
    db.execute("UPDATE connections SET created_at = 'last tuesday'")
    db.close()
    before = initialised.dump()
    result = initialised("connection", "list")
    assert_one_line_error(result, 1, "connections row 'prod' (created_at)", "not a UTC time")
    assert initialised.dump() == before


def test_history_pages_with_a_cursor(initialised, sandbox):
    for name in ("a", "b", "c"):
        assert initialised.add(name, sandbox.add_token(SCOPES), "--no-validate").code == 0
    everything = json.loads(initialised("history", "--json").stdout)
    newest = json.loads(initialised("history", "--json", "--limit", "2").stdout)
    assert newest == everything[-2:]
    older = initialised("history", "--json", "--limit", "2", "--before", str(newest[0]["id"]))
    assert json.loads(older.stdout) == everything[-4:-2]
    text = initialised("history", "--limit", "2").stdout
    assert f"older entries: rotator history --before {newest[0]['id']}" in text


def test_the_state_directory_from_systemd_works(rotator, sandbox):
    state = rotator.home / "lib" / "rotator"
    state.mkdir(parents=True, mode=0o700)
    del rotator.env["ROTATOR_STATE_DIR"]
    env = {"STATE_DIRECTORY": str(state)}
    assert rotator("init", env=env).code == 0
    assert rotator("connection", "list", env=env).code == 0
    assert (state / "rotator.db").exists()
    assert os.stat(state).st_mode & 0o777 == 0o700


def test_init_refuses_a_state_directory_others_can_write_before_writing_a_key(rotator):
    rotator.state_dir.mkdir()
    rotator.state_dir.chmod(0o777)
    assert_one_line_error(rotator("init"), 2, "can be written by other users")
    assert list(rotator.state_dir.iterdir()) == []


def test_the_daemon_refuses_a_state_directory_others_can_write(initialised):
    initialised.state_dir.chmod(0o775)
    assert_one_line_error(initialised("run", "--once"), 2, "can be written by other users")
    assert not (initialised.state_dir / "daemon.lock").exists()
