"""Lock files are opened safely, and a blocked writer names only a live holder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rotator.errors import StoreLocked, StoreUnsafe
from rotator.store import Store, WriterLock, open_lock_file


def test_a_symlinked_store_lock_is_refused_and_its_target_untouched(
    tmp_path, sqlite_store, keyring
):
    sqlite_store.close()
    target = tmp_path / "precious"
    target.write_bytes(b"do not overwrite me")
    lock = tmp_path / "state" / "rotator.lock"
    lock.unlink()
    lock.symlink_to(target)
    with pytest.raises(StoreUnsafe, match=r"rotator\.lock is a symbolic link"):
        Store.open(tmp_path / "state", keyring, writer=True)
    assert target.read_bytes() == b"do not overwrite me"
    assert lock.is_symlink()


@pytest.mark.parametrize("name", ["policy-media.lock", "daemon.lock"])
def test_a_symlinked_policy_or_daemon_lock_is_refused_and_its_target_untouched(tmp_path, name):
    target = tmp_path / "precious"
    target.write_bytes(b"keep")
    (tmp_path / name).symlink_to(target)
    with pytest.raises(StoreUnsafe, match="symbolic link"):
        WriterLock(tmp_path / name).acquire()
    assert target.read_bytes() == b"keep"


def test_a_dangling_symlink_is_not_followed_to_create_its_target(tmp_path):
    target = tmp_path / "created-by-nobody"
    (tmp_path / "daemon.lock").symlink_to(target)
    with pytest.raises(StoreUnsafe):
        open_lock_file(tmp_path / "daemon.lock")
    assert not target.exists()


def test_a_lock_that_is_a_directory_is_one_clear_error(tmp_path):
    (tmp_path / "rotator.lock").mkdir()
    with pytest.raises(StoreUnsafe, match=r"rotator\.lock is a directory"):
        open_lock_file(tmp_path / "rotator.lock")


def test_a_lock_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "daemon.lock")
    with pytest.raises(StoreUnsafe, match="not a regular file"):
        open_lock_file(tmp_path / "daemon.lock")


def test_a_hard_linked_lock_is_refused(tmp_path):
    target = tmp_path / "precious"
    target.write_bytes(b"keep")
    os.link(target, tmp_path / "rotator.lock")
    with pytest.raises(StoreUnsafe, match="hard links"):
        WriterLock(tmp_path / "rotator.lock").acquire()
    assert target.read_bytes() == b"keep"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_a_lock_owned_by_another_user_is_refused(tmp_path):
    lock = tmp_path / "rotator.lock"
    lock.write_bytes(b"")
    os.chown(lock, 12345, 12345)
    with pytest.raises(StoreUnsafe, match="belongs to another user"):
        open_lock_file(lock)


def test_a_new_lock_file_is_private(tmp_path):
    os.close(open_lock_file(tmp_path / "policy-media.lock"))
    assert (tmp_path / "policy-media.lock").stat().st_mode & 0o777 == 0o600


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_a_writer_blocked_by_shared_writers_does_not_name_a_long_gone_process(tmp_path):
    path = tmp_path / "rotator.lock"
    path.write_text(f"pid {_dead_pid()}: rotator rekey")  # left by a crashed rekey
    shared = WriterLock(path, exclusive=False)
    shared.acquire()
    try:
        rekey = WriterLock(path, exclusive=True)
        with pytest.raises(StoreLocked) as caught:
            rekey.acquire()
    finally:
        shared.release()
    assert "pid" not in str(caught.value)
    assert "in use by another process;" in str(caught.value)
    assert rekey.holder is None


def test_an_exclusive_holder_is_named_while_it_lives_and_forgotten_when_it_lets_go(tmp_path):
    path = tmp_path / "rotator.lock"
    holder = WriterLock(path, exclusive=True)
    holder.acquire()
    try:
        with pytest.raises(StoreLocked, match=rf"\(pid {os.getpid()}: "):
            WriterLock(path, exclusive=False).acquire()
    finally:
        holder.release()
    assert path.read_bytes() == b""
