"""Opening refuses what is not a rotator store before writing anything to it."""

from __future__ import annotations

import os
import sqlite3

import pytest

from rotator.errors import StoreCorrupt, StoreError
from rotator.secret import Secret
from rotator.store import Store
from rotator.store.sqlite import SqliteDatabase


def _state(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return state


@pytest.mark.parametrize("writer", [False, True])
def test_a_zero_byte_store_is_refused_by_every_opener_naming_init(tmp_path, keyring, writer):
    state = _state(tmp_path)
    (state / "rotator.db").write_bytes(b"")
    with pytest.raises(StoreCorrupt, match=r"is empty \(zero bytes\); run `rotator init`"):
        Store.open(state, keyring, writer=writer)
    assert (state / "rotator.db").read_bytes() == b""


def test_init_sets_up_a_zero_byte_store(tmp_path, keyring):
    state = _state(tmp_path)
    (state / "rotator.db").write_bytes(b"")
    with Store.create(state, keyring) as store:
        store.history.log("store_created", "store", "ok")
    with Store.open(state, keyring, writer=False) as store:
        assert [e.event for e in store.history.page()] == ["store_created"]


def _foreign(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()


@pytest.mark.parametrize("how", ["reader", "writer", "init"])
def test_a_foreign_sqlite_file_is_refused_and_left_byte_for_byte(tmp_path, keyring, how):
    state = _state(tmp_path)
    path = state / "rotator.db"
    _foreign(path)
    before = path.read_bytes()
    with pytest.raises(StoreCorrupt, match="an SQLite database but not a rotator store"):
        if how == "init":
            Store.create(state, keyring)
        else:
            Store.open(state, keyring, writer=how == "writer")
    assert path.read_bytes() == before
    assert sorted(p.name for p in state.iterdir() if p.name.startswith("rotator.db")) == [
        "rotator.db"
    ]  # no -wal or -shm: the journal mode was not touched


def test_a_store_that_is_a_directory_is_one_clear_error(tmp_path, keyring):
    state = _state(tmp_path)
    (state / "rotator.db").mkdir()
    with pytest.raises(StoreError, match=r"rotator\.db is a directory, not a store file"):
        Store.open(state, keyring, writer=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files anyway")
def test_a_read_only_store_is_one_clear_error_for_a_writer(tmp_path, sqlite_store, keyring):
    sqlite_store.close()
    (tmp_path / "state" / "rotator.db").chmod(0o400)
    with (
        pytest.raises(StoreError, match="read-only"),
        Store.open(tmp_path / "state", keyring, writer=True) as writer,
    ):
        writer.history.log("x", "y", "ok")


def test_the_full_damage_check_runs_only_when_asked(tmp_path, sqlite_store, keyring, monkeypatch):
    sqlite_store.close()
    statements: list[str] = []
    real = SqliteDatabase.execute

    def recording(self, sql, params=()):
        statements.append(sql)
        return real(self, sql, params)

    monkeypatch.setattr(SqliteDatabase, "execute", recording)
    Store.open(tmp_path / "state", keyring, writer=True).close()
    Store.open(tmp_path / "state", keyring, writer=False).close()
    assert not [s for s in statements if "quick_check" in s]
    Store.open(tmp_path / "state", keyring, writer=True, check=True).close()
    assert [s for s in statements if "quick_check" in s] == ["PRAGMA quick_check(1)"]
    statements.clear()
    Store.create(tmp_path / "state", keyring).close()  # init checks too
    assert [s for s in statements if "quick_check" in s] == ["PRAGMA quick_check(1)"]


def test_a_hand_edited_timestamp_is_one_clear_error_naming_the_column(backend, store):
    store.connections.add(
        "prod",
        "",
        Secret("dop_v1_" + "a" * 64),
        "personal",
        None,
    )
    backend.sql("UPDATE connections SET token_set_at = 'yesterday-ish'")
    with pytest.raises(StoreCorrupt) as caught:
        store.connections.get("prod")
    message = str(caught.value)
    assert "connections row 'prod' (token_set_at)" in message
    assert "'yesterday-ish'" in message
    assert "\n" not in message


def test_a_timestamp_without_a_zone_is_refused_rather_than_guessed(backend, store):
    store.history.log("e", "s", "ok")
    backend.sql("UPDATE audit_log SET at = '2026-01-01T00:00:00'")
    with pytest.raises(StoreCorrupt, match=r"audit_log row 1 \(at\)"):
        list(store.history.page())


def test_a_hand_edited_json_column_is_one_clear_error(backend, store):
    store.history.log("e", "s", "ok", n=1)
    backend.sql("UPDATE audit_log SET detail = '{not json'")
    with pytest.raises(StoreCorrupt, match=r"audit_log row 1 \(detail\) holds '\{not json', not"):
        list(store.history.page())
