"""The state directory must be ours alone; systemd's and the container's layouts pass."""

from __future__ import annotations

import os

import pytest

from rotator.errors import StoreUnsafe
from rotator.store import Store, check_state_dir


def test_a_systemd_state_directory_is_accepted(tmp_path, keyring):
    state = tmp_path / "lib" / "rotator"
    state.mkdir(parents=True, mode=0o700)  # StateDirectory= with StateDirectoryMode=0700
    with Store.create(state, keyring) as store:
        assert store.connections.all() == []
    with Store.open(state, keyring, writer=True) as store:
        assert store.connections.all() == []


def test_a_readable_but_not_writable_directory_is_accepted_and_init_makes_it_private(
    tmp_path, keyring
):
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)  # e.g. a freshly created container volume
    Store.create(state, keyring).close()
    assert state.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_state_directory_others_can_write_to_is_refused(tmp_path, sqlite_store, keyring, mode):
    sqlite_store.close()
    state = tmp_path / "state"
    state.chmod(mode)
    before = sorted(p.name for p in state.iterdir())
    with pytest.raises(StoreUnsafe, match=r"can be written by other users .*chmod 700"):
        Store.open(state, keyring, writer=True)
    with pytest.raises(StoreUnsafe):
        Store.create(state, keyring)
    assert state.stat().st_mode & 0o777 == mode  # refused, not silently "fixed"
    assert sorted(p.name for p in state.iterdir()) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_a_state_directory_owned_by_another_user_is_refused(tmp_path, sqlite_store, keyring):
    sqlite_store.close()
    state = tmp_path / "state"
    os.chown(state, 12345, 12345)
    with pytest.raises(StoreUnsafe, match=r"belongs to uid 12345, not to this user \(uid 0\)"):
        Store.open(state, keyring, writer=False)


def test_a_state_directory_reached_through_a_symlink_into_a_public_place_is_refused(
    tmp_path, keyring
):
    public = tmp_path / "public"
    public.mkdir()
    public.chmod(0o1777)  # like /tmp
    (public / "state").mkdir(mode=0o700)
    link = tmp_path / "state"
    link.symlink_to(public / "state")
    with pytest.raises(StoreUnsafe, match=r"symbolic link into .*public, which anyone can write"):
        Store.create(link, keyring)
    assert list((public / "state").iterdir()) == []


def test_a_state_directory_reached_through_a_symlink_into_a_private_place_works(tmp_path, keyring):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (tmp_path / "state").symlink_to(private)
    Store.create(tmp_path / "state", keyring).close()
    assert (private / "rotator.db").exists()


def test_a_state_directory_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "state").write_text("")
    with pytest.raises(StoreUnsafe, match="is not a directory"):
        check_state_dir(tmp_path / "state")
