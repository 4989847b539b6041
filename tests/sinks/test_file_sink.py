"""The file sink against the real filesystem and real child processes (a service reloading on
SIGHUP that tells which key it holds)."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rotator.credentials.base import Credential
from rotator.errors import RotatorError, SinkError
from rotator.secret import Secret
from rotator.settings import parse_config
from rotator.sinks import KeyPair, PushContext, SinkDeps
from rotator.sinks.file import FileSinkConfig
from tests.sinks.vault_support import new_pair

CONTEXT = PushContext("media", "file-0001", datetime(2026, 11, 23, tzinfo=UTC))


def table_error(table: dict) -> str:
    policy = {"name": "media", "connection": "prod", "spaces_key": "K", "sinks": [table]}
    with pytest.raises(RotatorError) as caught:
        parse_config({"policies": [policy]})
    return str(caught.value)


# -- a push ----------------------------------------------------------------------------


def test_a_push_writes_the_env_file_reloads_the_service_and_confirms_once_it_serves_the_key(
    file_world,
):
    old, new = new_pair(), new_pair()
    sink = file_world.sink()
    sink.push(old, CONTEXT)
    confirmation = sink.push(new, CONTEXT)
    assert file_world.consumer.held() == new.access_key
    assert file_world.file() == {
        "SPACES_ACCESS_KEY": new.access_key,
        "SPACES_SECRET_KEY": new.secret_key.reveal(),
    }
    assert stat.S_IMODE(file_world.path.stat().st_mode) == 0o600
    assert confirmation.detail["check"] == "passed"
    assert confirmation.detail["reload"] == "exited 0"
    assert new.secret_key.reveal() not in repr(confirmation)
    assert sink.holds() == new.access_key
    previous = file_world.previous.read_text()
    assert old.access_key in previous and old.secret_key.reveal() in previous
    assert stat.S_IMODE(file_world.previous.stat().st_mode) == 0o600
    assert sorted(p.name for p in file_world.path.parent.iterdir()) == [
        "app.env",
        "app.env.previous",
    ]


def test_a_repeated_push_rewrites_nothing_runs_no_reload_and_still_checks(file_world):
    pair = new_pair()
    sink = file_world.sink()
    sink.push(pair, CONTEXT)
    inode, written = file_world.path.stat().st_ino, file_world.path.stat().st_mtime_ns
    confirmation = sink.push(pair, CONTEXT)
    assert (file_world.path.stat().st_ino, file_world.path.stat().st_mtime_ns) == (inode, written)
    assert len(file_world.reloads()) == 1
    assert confirmation.detail["check"] == "passed"
    assert not file_world.previous.exists()  # nothing was replaced


def test_a_repeated_push_whose_service_missed_the_reload_reloads_it(file_world):
    pair = new_pair()
    file_world.sink(check=None).push(pair, CONTEXT)  # as if rotator died before the check
    file_world.sink(reload=["true"], check=None).push(new_pair(), CONTEXT)
    second = new_pair()
    sink = file_world.sink()
    sink.push(second, CONTEXT)
    assert file_world.consumer.held() == second.access_key


@pytest.mark.parametrize(
    "table",
    [
        {"format": "json"},
        {"format": "json", "fields": {"AK": "access_key", "SK": "secret_key"}},
        {"format": "template", "template": "key={access_key}\nsecret={secret_key}\n"},
        {"fields": {"BUCKET_KEY": "access_key", "BUCKET_SECRET": "secret_key"}},
    ],
    ids=["json", "json-renamed", "template", "env-renamed"],
)
def test_each_format_holds_the_fields_and_tells_which_key_it_holds(file_world, table):
    pair = new_pair()
    sink = file_world.sink(check=None, reload=None, **table)
    sink.push(pair, CONTEXT)
    text = file_world.path.read_text()
    assert pair.access_key in text and pair.secret_key.reveal() in text
    assert sink.holds() == pair.access_key
    if table.get("format") == "json":
        names = table.get("fields", {"access_key": 0, "secret_key": 0})
        assert set(json.loads(text)) == set(names)


def test_a_template_file_is_read_and_a_docker_config_takes_a_registry_credential(
    file_world, tmp_path
):
    template = tmp_path / "app.conf.tmpl"
    template.write_text("[spaces]\nid = {access_key}\nsecret = {secret_key}\n")
    sink = file_world.sink(check=None, reload=None, format="template", template_file=str(template))
    pair = new_pair()
    sink.push(pair, CONTEXT)
    assert file_world.path.read_text() == (
        f"[spaces]\nid = {pair.access_key}\nsecret = {pair.secret_key.reveal()}\n"
    )
    assert sink.holds() == pair.access_key

    docker = file_world.sink(check=None, reload=None, format="dockerconfigjson")
    # A credential of another kind: the fields a registry credential hands sinks.
    credential = Credential(
        "robot",
        {
            "registry": "registry.digitalocean.com",
            "username": "robot",
            "password": Secret("s3cret-pass"),
        },
        identifier_field=None,
    )
    docker.push(credential, CONTEXT)
    auths = json.loads(file_world.path.read_text())["auths"]
    assert auths["registry.digitalocean.com"]["username"] == "robot"
    assert auths["registry.digitalocean.com"]["auth"] == "cm9ib3Q6czNjcmV0LXBhc3M="
    assert docker.holds() is None  # no field of it is an access key
    with pytest.raises(SinkError, match="no field registry"):
        docker.push(new_pair(), CONTEXT)  # a Spaces key has no registry field


def test_a_value_an_env_file_cannot_hold_is_refused_before_anything_is_written(file_world):
    sink = file_world.sink()
    with pytest.raises(SinkError, match="line break"):
        sink.push(KeyPair("DO00X", Secret("two\nlines")), CONTEXT)
    assert not file_world.path.exists() and file_world.reloads() == []


# -- mode, ownership, atomicity --------------------------------------------------------------


def test_mode_owner_and_group_are_set_before_the_file_appears(file_world):
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    sink = file_world.sink(mode="0640", owner="nobody", group=65534, check=None, reload=None)
    sink.check()
    sink.push(new_pair(), CONTEXT)
    found = file_world.path.stat()
    assert (stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid) == (0o640, 65534, 65534)
    sink.push(new_pair(), CONTEXT)
    previous = file_world.previous.stat()
    assert (stat.S_IMODE(previous.st_mode), previous.st_uid) == (0o640, 65534)


def test_a_mode_others_could_read_and_an_unknown_owner_are_refused(file_world):
    assert "every user" in table_error(file_world.table(mode="0644"))
    with pytest.raises(SinkError, match="no user named"):
        file_world.sink(owner="no-such-user-here")


def test_a_reader_never_sees_a_partial_file_while_pushes_replace_it(file_world):
    sink = file_world.sink(check=None, reload=None)
    pairs = [new_pair() for _ in range(2)]
    sink.push(pairs[0], CONTEXT)
    complete = set()
    for pair in pairs:
        complete.add(
            f"# written by rotator for policy media; edits are overwritten\n"
            f"SPACES_ACCESS_KEY={pair.access_key}\nSPACES_SECRET_KEY={pair.secret_key.reveal()}\n"
        )
    seen, stop = [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(file_world.path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_number in range(40):
            sink.push(pairs[(round_number + 1) % 2], CONTEXT)
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) <= complete
    assert not [p for p in file_world.path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_path_that_is_a_symbolic_link_is_refused_and_its_target_left_alone(file_world, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    file_world.path.symlink_to(target)
    sink = file_world.sink()
    with pytest.raises(SinkError, match="symbolic link") as checked:
        sink.check()
    assert not checked.value.transient
    with pytest.raises(SinkError, match="symbolic link"):
        sink.push(new_pair(), CONTEXT)
    assert target.read_text() == "precious\n"
    assert file_world.reloads() == []


# -- failures: the old key stays in force -------------------------------------------------------


def test_a_reload_that_fails_puts_the_old_file_back_and_says_so_without_the_secret(file_world):
    old, new = new_pair(), new_pair()
    file_world.sink().push(old, CONTEXT)
    before = file_world.path.read_bytes()
    failing = ["sh", "-c", f"cat {file_world.path}; echo reload failed >&2; exit 3"]
    sink = file_world.sink(reload=failing)
    with pytest.raises(SinkError) as caught:
        sink.push(new, CONTEXT)
    message = str(caught.value)
    assert caught.value.transient
    assert "exited 3: reload failed" in message and "put back as it was" in message
    assert "\n" not in message and new.secret_key.reveal() not in message
    assert file_world.path.read_bytes() == before
    assert file_world.consumer.held() == old.access_key


def test_a_check_that_never_passes_times_out_and_the_service_goes_back_to_the_old_key(
    file_world,
):
    old, new = new_pair(), new_pair()
    file_world.sink().push(old, CONTEXT)
    never = file_world.consumer.url + "?expect=never-{access_key}"
    sink = file_world.sink(check=never, check_timeout=timedelta(seconds=0.5))
    with pytest.raises(SinkError, match="did not pass within") as caught:
        sink.push(new, CONTEXT)
    assert caught.value.transient
    assert file_world.file()["SPACES_ACCESS_KEY"] == old.access_key
    assert file_world.consumer.held() == old.access_key  # reloaded onto the old file again


def test_a_reload_past_its_timeout_is_killed_with_its_whole_process_group(file_world, tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    slow = ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"]
    sink = file_world.sink(reload=slow, reload_timeout=timedelta(seconds=0.5))
    with pytest.raises(SinkError, match="did not finish within") as caught:
        sink.push(new_pair(), CONTEXT)
    assert caught.value.transient
    assert not file_world.path.exists()  # there was no file before: removed again
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_missing_reload_command_is_a_definite_error(file_world):
    sink = file_world.sink(reload=["/nonexistent/reload-myapp"])
    with pytest.raises(SinkError, match="not an executable") as checked:
        sink.check()
    assert not checked.value.transient
    with pytest.raises(SinkError, match="cannot run reload") as pushed:
        sink.push(new_pair(), CONTEXT)
    assert not pushed.value.transient


# -- dry run and config check ---------------------------------------------------------------


def test_describe_push_names_fields_and_commands_and_changes_nothing(file_world):
    pair = new_pair()
    sink = file_world.sink()
    lines = sink.describe_push(pair.access_key, CONTEXT)
    text = "\n".join(lines)
    assert "SPACES_ACCESS_KEY=access_key, SPACES_SECRET_KEY=secret_key" in text
    assert "mode 0600" in text and "reload" in text and f"expect={pair.access_key}" in text
    assert pair.secret_key.reveal() not in text
    assert not file_world.path.exists() and file_world.reloads() == []


def test_check_proves_the_directory_the_commands_and_the_check_url_and_changes_nothing(
    file_world, tmp_path
):
    file_world.sink().check()
    assert list(file_world.path.parent.iterdir()) == [] and file_world.reloads() == []
    with pytest.raises(SinkError, match="does not exist"):
        file_world.sink(path=str(tmp_path / "missing" / "app.env")).check()
    file_world.path.mkdir()
    with pytest.raises(SinkError, match="not a regular file"):
        file_world.sink().check()
    file_world.path.rmdir()
    with pytest.raises(SinkError, match="not reachable") as unreachable:
        file_world.sink(check="http://127.0.0.1:9/key").check()
    assert unreachable.value.transient


def test_check_refuses_a_directory_rotator_cannot_write(file_world):
    if os.geteuid() == 0:
        pytest.skip("root may write any directory")
    file_world.path.parent.chmod(0o500)
    try:
        with pytest.raises(SinkError, match="not writable"):
            file_world.sink().check()
    finally:
        file_world.path.parent.chmod(0o700)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"path": "relative/app.env"}, "absolute path"),
        ({"format": "template", "template": "{access_key} {token}"}, "unknown field {token}"),
        ({"format": "template", "template": "{access_key!r}"}, "plain field name"),
        ({"format": "template"}, "template or template_file"),
        ({"template": "{access_key}"}, "need format = 'template'"),
        ({"fields": {"1BAD": "access_key"}}, "environment variable name"),
        ({"fields": {"KEY": "acess_key"}}, "unknown field 'acess_key'"),
        ({"check": "http://example.com/key"}, "loopback"),
        ({"check": "http://127.0.0.1:1/key?s={secret_key}"}, "is secret"),
        ({"check": ["probe", "{secret_key}"]}, "is secret"),
        ({"reload": "systemctl reload myapp"}, "reload"),
        ({"reload": []}, "reload"),
        ({"colour": "blue"}, "colour"),
        ({"owner": -1}, "owner"),
    ],
)
def test_a_wrong_table_is_refused_when_the_config_is_read(file_world, change, problem):
    assert problem in table_error(file_world.table(**change))


def test_a_template_file_naming_an_unknown_field_is_refused_when_built(file_world, tmp_path):
    template = tmp_path / "bad.tmpl"
    template.write_text("{access_key} {pasword}\n")
    config = FileSinkConfig.model_validate(
        file_world.table(format="template", template_file=str(template))
    )
    with pytest.raises(SinkError, match=r"unknown field \{pasword\}"):
        config.build(SinkDeps())


# -- canaries --------------------------------------------------------------------------------


def test_no_secret_reaches_a_child_its_environment_the_logs_or_an_error(file_world, caplog):
    os.environ["ROTATOR_CANARY_SECRET"] = "canary-from-rotators-environment"
    caplog.set_level(logging.DEBUG)
    pairs = [new_pair() for _ in range(3)]
    try:
        sink = file_world.sink()
        sink.push(pairs[0], CONTEXT)
        sink.push(pairs[1], CONTEXT)
        sink.push(pairs[1], CONTEXT)
        echoing = ["sh", "-c", f"cat {file_world.path} {file_world.previous}; exit 1"]
        with pytest.raises(SinkError) as caught:
            file_world.sink(reload=echoing).push(pairs[2], CONTEXT)
        sink.describe_push(pairs[2].access_key, CONTEXT)
        sink.check()
        sink.after_revoke(pairs[0].access_key)
    finally:
        del os.environ["ROTATOR_CANARY_SECRET"]
    reloads = file_world.reloads()
    assert len(reloads) == 2
    children = json.dumps(reloads)
    assert set(reloads[0]["env"]) <= {"PATH", "LANG", "ROTATOR_FILE", "LC_CTYPE"}
    assert "canary-from-rotators-environment" not in children
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert "said:" in logged  # the echoing child's output was logged, redacted
    for pair in pairs:
        secret = pair.secret_key.reveal()
        assert secret not in children
        assert secret not in logged
        assert secret not in str(caught.value)


def test_after_revoke_removes_the_previous_file_only_when_it_holds_the_revoked_key(file_world):
    old, new = new_pair(), new_pair()
    sink = file_world.sink()
    sink.push(old, CONTEXT)
    sink.push(new, CONTEXT)
    sink.after_revoke("DO00SOMEOTHERKEY")
    assert file_world.previous.exists()
    sink.after_revoke(old.access_key)
    assert not file_world.previous.exists()
    assert sink.holds() == new.access_key
    sink.after_revoke(old.access_key)  # again: nothing to do
