import subprocess
import sys
from datetime import UTC, datetime

import pytest

from rotator.errors import (
    ConnectionExists,
    ConnectionNotFound,
    MasterKeyError,
    RecordTampered,
    StoreCorrupt,
    StoreLocked,
)
from rotator.secret import Secret
from rotator.store import SCHEMA_VERSION, Store, ValidationRecord
from tests.support.stores import ring

TOKEN_A = Secret("dop_v1_" + "a" * 64)
TOKEN_B = Secret("dop_v1_" + "b" * 64)


def test_a_new_store_file_is_private(tmp_path, sqlite_store):
    path = tmp_path / "state" / "rotator.db"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def test_a_new_store_is_at_the_current_schema(backend, store):
    assert backend.schema_version() == SCHEMA_VERSION


def test_a_connection_starts_at_version_1_and_a_new_token_bumps_it(store):
    added = store.connections.add("prod", "main account", TOKEN_A, "personal", None)
    assert (added.version, added.status, added.description) == (1, "unknown", "main account")
    assert added.created_at.tzinfo is not None
    same = store.connections.update("prod", token=TOKEN_A, kind="personal")
    assert same.version == 1
    changed = store.connections.update("prod", token=TOKEN_B, kind="personal")
    assert changed.version == 2
    assert changed.token_hash == TOKEN_B.sha256
    assert store.connections.open_token(changed) == TOKEN_B


def test_names_are_unique_and_unknown_names_are_clear_errors(store):
    store.connections.add("prod", "", TOKEN_A, "personal", None)
    with pytest.raises(ConnectionExists):
        store.connections.add("prod", "", TOKEN_B, "personal", None)
    with pytest.raises(ConnectionNotFound, match="no connection named 'nope'"):
        store.connections.get("nope")


def test_the_token_is_never_in_the_store_in_plaintext(backend, store):
    store.connections.add("prod", "", TOKEN_A, "personal", None)
    assert TOKEN_A.reveal().encode() not in backend.contents()


def test_ciphertexts_swapped_between_records_are_refused(backend, store):
    a = store.connections.add("a", "", TOKEN_A, "personal", None)
    b = store.connections.add("b", "", TOKEN_B, "personal", None)
    sealed = dict(backend.sql("SELECT name, token_sealed FROM connections"))
    backend.sql("UPDATE connections SET token_sealed = ? WHERE name = 'a'", (sealed["b"],))
    with pytest.raises(RecordTampered, match="connection 'a'"):
        store.connections.open_token(a)
    assert store.connections.open_token(b) == TOKEN_B


def test_a_validation_that_learned_nothing_keeps_what_was_known(store):
    store.connections.add("prod", "", TOKEN_A, "personal", None)
    checked = datetime(2026, 1, 1, tzinfo=UTC)
    store.connections.record_validation(
        "prod", ValidationRecord("valid", "ok", checked, "ops@example.com")
    )
    later = store.connections.record_validation(
        "prod", ValidationRecord("unknown", "timed out", checked)
    )
    assert (later.status, later.account_email) == ("unknown", "ops@example.com")


def test_a_second_writer_process_is_told_the_store_is_in_use(tmp_path, sqlite_store, keyring):
    with pytest.raises(StoreLocked, match=r"in use by another process \(pid \d+"):
        Store.open(tmp_path / "state", keyring, writer=True)
    code = (
        "import sys; from rotator.store import WriterLock; from pathlib import Path\n"
        "try:\n WriterLock(Path(sys.argv[1])).acquire()\n"
        "except Exception as e: print(type(e).__name__); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "state" / "rotator.lock")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (3, "StoreLocked")
    # Readers need no lock.
    with Store.open(tmp_path / "state", keyring, writer=False) as reader:
        assert reader.connections.all() == []


def test_the_wrong_master_key_is_refused_before_anything_is_read(backend, store):
    store.close()
    with pytest.raises(MasterKeyError, match="does not open this store"):
        backend.open(ring(), writer=False)


@pytest.mark.parametrize("content", [b"", b"hello, not a database" * 100])
def test_a_file_that_is_not_a_rotator_store_is_refused(tmp_path, keyring, content):
    state = tmp_path / "state"
    state.mkdir()
    (state / "rotator.db").write_bytes(content)
    with pytest.raises(StoreCorrupt):
        Store.open(state, keyring, writer=False)


def test_a_truncated_store_is_refused(tmp_path, sqlite_store, keyring):
    store = sqlite_store
    for i in range(50):
        store.connections.add(f"c{i}", "x" * 500, TOKEN_A, "personal", None)
    store.close()
    path = tmp_path / "state" / "rotator.db"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreCorrupt):
        Store.open(tmp_path / "state", keyring, writer=False)


def test_a_store_from_a_newer_rotator_is_refused(backend, store, keyring):
    store.close()
    backend.set_schema_version(SCHEMA_VERSION + 1)
    with pytest.raises(StoreCorrupt, match="upgrade rotator"):
        backend.open(keyring, writer=False)


def test_resealing_moves_every_record_to_the_new_key_atomically(backend, store, keyring):
    store.connections.add("a", "", TOKEN_A, "personal", None)
    store.connections.add("b", "", TOKEN_B, "personal", None)
    new = ring()
    assert store.reseal_all(new) == 2
    assert store.sealed_key_ids() == {new.primary.key_id}
    store.close()
    with pytest.raises(MasterKeyError):
        backend.open(keyring, writer=False)
    with backend.open(new, writer=False) as reopened:
        assert reopened.connections.open_token(reopened.connections.get("a")) == TOKEN_A


def test_a_tampered_record_stops_a_reseal_before_anything_changes(backend, store):
    store.connections.add("a", "", TOKEN_A, "personal", None)
    store.connections.add("b", "", TOKEN_B, "personal", None)
    backend.sql("UPDATE connections SET token_sealed = token_sealed || 'x' WHERE name = 'b'")
    before = sorted(backend.sql("SELECT token_sealed FROM connections"))
    with pytest.raises(RecordTampered):
        store.reseal_all(ring())
    assert sorted(backend.sql("SELECT token_sealed FROM connections")) == before
    assert store.sealed_key_ids() == {store.keyring.primary.key_id}


def test_every_change_is_in_the_audit_log_without_the_token(store):
    store.connections.add("prod", "", TOKEN_A, "personal", None)
    store.connections.update("prod", token=TOKEN_B, kind="personal")
    store.connections.remove("prod")
    entries = list(store.history.page())
    assert [e.event for e in entries] == [
        "connection_added",
        "connection_updated",
        "connection_removed",
    ]
    assert all(TOKEN_A.reveal() not in str(e.to_json()) for e in entries)
    assert entries[1].detail["version"] == 2


def test_a_store_at_an_older_schema_is_migrated_even_by_a_reader(backend, keyring):
    with backend.create(keyring) as store:
        store.connections.add("prod", "", TOKEN_A, "personal", None)
    later = (
        "scope_reports",
        "alert_outbox",
        "alert_conditions",
        "rotation_sinks",
        "rotations",
        "policy_keys",
        "leases",
        "replicas",
        "rate_budgets",
    )
    for table in later:
        backend.sql(f"DROP TABLE {table}")
    backend.set_schema_version(1)
    with backend.open(keyring, writer=False) as reader:
        assert reader.connections.get("prod").version == 1
    assert backend.schema_version() == SCHEMA_VERSION
    assert set(later) <= backend.tables()
