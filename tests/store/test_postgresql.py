"""What only the PostgreSQL backend has: several processes at once, the URL's password, the pool."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time

import pytest

from rotator.crypto import Keyring, MasterKey
from rotator.errors import (
    ConfigError,
    ConnectionExists,
    MasterKeyError,
    StoreCorrupt,
    StoreError,
    StoreLocked,
    StoreNotInitialised,
)
from rotator.secret import Secret
from rotator.store import SCHEMA_VERSION, Store
from rotator.store.postgres_url import DatabaseUrl
from rotator.store.postgresql import to_driver_sql
from tests.support.postgres import PASSWORD
from tests.support.stores import PostgresBackend, ring

TOKEN_A = Secret("dop_v1_" + "a" * 64)
TOKEN_B = Secret("dop_v1_" + "b" * 64)
WAIT = 30.0  # seconds: the most a test waits for another session to block


@pytest.fixture
def pg(tmp_path, postgres_url) -> PostgresBackend:
    return PostgresBackend(tmp_path / "state", postgres_url)


def test_an_empty_database_asks_for_init(pg, keyring):
    with pytest.raises(StoreNotInitialised, match=r"no rotator store in .*run `rotator init`"):
        pg.open(keyring)
    assert pg.tables() == set()


def test_a_database_with_other_tables_is_refused_and_left_alone(pg, keyring):
    pg.sql("CREATE TABLE notes (body TEXT)")
    pg.sql("INSERT INTO notes VALUES ('mine')")
    with pytest.raises(StoreCorrupt, match="has tables but is not a rotator store"):
        pg.create(keyring)
    assert pg.tables() == {"notes"}
    assert pg.sql("SELECT body FROM notes") == [("mine",)]


def _open_in_processes(url: str, count: int, *, create: bool, key_text: str) -> list[str]:
    """Start ``count`` processes that open the store at once; what each printed."""
    script = (
        "import sys; from pathlib import Path\n"
        "from rotator.crypto import Keyring, MasterKey\n"
        "from rotator.secret import Secret\n"
        "from rotator.store import Store\n"
        "keyring = Keyring(MasterKey.from_text(Secret(sys.argv[2]), 'test'))\n"
        "open_ = Store.create if sys.argv[3] == 'create' else Store.open\n"
        "options = {} if sys.argv[3] == 'create' else {'writer': True}\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()  # all start at once\n"
        "with open_(Path('.'), keyring, database_url=Secret(sys.argv[1]), **options) as s:\n"
        "    print('created' if s.created else 'opened')\n"
    )
    mode = "create" if create else "open"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, key_text, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"  # imports done
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(out.strip())
    return results


def _key_text() -> str:
    return MasterKey.generate_text().reveal()


def test_processes_initialising_together_create_the_schema_once(pg):
    key_text = _key_text()
    results = _open_in_processes(pg.url, 4, create=True, key_text=key_text)
    assert sorted(results) == ["created", "opened", "opened", "opened"]
    assert pg.schema_version() == SCHEMA_VERSION
    assert len(pg.sql("SELECT value FROM meta WHERE key = 'keycheck'")) == 1


def test_processes_upgrading_together_migrate_once(pg):
    key_text = _key_text()
    keyring = Keyring(MasterKey.from_text(Secret(key_text), "test"))
    with pg.create(keyring) as store:
        store.connections.add("prod", "", TOKEN_A, "personal", None)
    later = ("rotation_sinks", "rotations", "policy_keys", "leases", "replicas", "rate_budgets")
    for table in later:
        pg.sql(f"DROP TABLE {table}")
    pg.set_schema_version(2)
    results = _open_in_processes(pg.url, 4, create=False, key_text=key_text)
    assert results == ["opened"] * 4  # one migrated, three waited and found it done
    assert pg.schema_version() == SCHEMA_VERSION
    assert set(later) <= pg.tables()


def test_a_failed_statement_inside_a_transaction_writes_nothing(pg, keyring):
    with pg.create(keyring) as store:
        store.connections.add("prod", "", TOKEN_A, "personal", None)
        with (
            pytest.raises(StoreError, match="a statement failed; nothing was written"),
            store.transaction(),
        ):
            store.history.log("before", "s", "ok")
            # Swallowed here, but PostgreSQL has aborted the transaction regardless.
            with contextlib.suppress(ConnectionExists):
                store.connections.add("prod", "", TOKEN_B, "personal", None)
        assert [e.event for e in store.history.page()] == ["connection_added"]


def test_threads_sharing_a_store_each_get_their_own_transactions(pg, keyring):
    with pg.create(keyring) as store:
        errors: list[BaseException] = []

        def work(number: int) -> None:
            try:
                for step in range(10):
                    with store.transaction():
                        store.history.log("step", f"thread-{number}", "ok", step=step)
                        store.history.log("echo", f"thread-{number}", "ok", step=step)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors
        entries = list(store.history.page(limit=1000))
        assert len(entries) == 6 * 10 * 2
        for number in range(6):
            mine = [(e.event, e.detail["step"]) for e in entries if e.subject == f"thread-{number}"]
            assert mine == [(event, s) for s in range(10) for event in ("step", "echo")]


def test_the_store_survives_its_connections_being_cut(pg, keyring):
    with pg.create(keyring) as store:
        store.connections.add("prod", "", TOKEN_A, "personal", None)
        pg.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert store.connections.get("prod").version == 1


def _wait_for_a_blocked_session(pg: PostgresBackend) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        waiting = pg.sql(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting[0][0]:
            return
        time.sleep(0.02)
    raise AssertionError(f"no session blocked within {WAIT}s")


def test_a_rekey_waits_for_a_sealing_writer_then_reseals_what_it_wrote(pg, keyring):
    new = ring()
    with pg.create(keyring) as writer, pg.open(keyring, writer=True) as rekeyer:
        done: list[int] = []
        with writer.transaction():
            writer.connections.add("prod", "", TOKEN_A, "personal", None)
            rekey = threading.Thread(target=lambda: done.append(rekeyer.reseal_all(new)))
            rekey.start()
            _wait_for_a_blocked_session(pg)  # the re-key waits for this transaction
            assert not done
        rekey.join(timeout=WAIT)
        assert done == [1]  # it saw the connection committed while it waited
        # The writer still holds only the old key: it may no longer seal anything.
        with pytest.raises(MasterKeyError, match="the store was re-keyed"):
            writer.connections.add("spare", "", TOKEN_B, "personal", None)
        assert not writer.connections.exists("spare")
    with pg.open(new) as reopened:
        assert reopened.sealed_key_ids() == {new.primary.key_id}
        assert reopened.connections.open_token(reopened.connections.get("prod")) == TOKEN_A


def test_readers_are_not_held_up_by_a_rekey(pg, keyring):
    with pg.create(keyring) as store, pg.open(keyring) as reader:
        store.connections.add("prod", "", TOKEN_A, "personal", None)
        with store.transaction():
            store.reseal_all(ring())
            assert reader.connections.get("prod").version == 1  # MVCC: no lock wait


def test_the_password_is_in_no_error_repr_or_log(pg, keyring, postgres_cluster, caplog):
    with pg.create(keyring) as store:
        assert PASSWORD not in repr(store._db)
        assert PASSWORD not in store.where
    database = pg.url.rsplit("/", 1)[1].split("?")[0]
    for url in (
        postgres_cluster.url(database, password=PASSWORD + "x"),  # wrong password
        postgres_cluster.url(database, port=1),  # nothing listens there
    ):
        with pytest.raises(StoreError) as caught:
            Store.open(pg.state_dir, keyring, writer=False, database_url=Secret(url))
        message = str(caught.value)
        assert "127.0.0.1" in message
        assert f'"{database}"' in message
        assert PASSWORD not in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql://rotator:{PASSWORD}%zz@127.0.0.1/db",
        f"postgresql://rotator:{PASSWORD}@127.0.0.1:port/db",
        f"postgresql://rotator@127.0.0.1/db?password={PASSWORD}&port=x",
        f"mysql://rotator:{PASSWORD}@127.0.0.1/db",
    ],
)
def test_a_bad_url_is_refused_without_its_password(text, keyring, tmp_path):
    with pytest.raises((ConfigError, StoreError)) as caught:
        Store.open(tmp_path, keyring, writer=False, database_url=Secret(text))
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value)


def test_the_url_names_the_store_and_scrubs_every_spelling_of_the_password():
    url = DatabaseUrl(
        Secret("postgresql://doadmin:p%40ss%2Fw0rd@db.example.com:25060/defaultdb?sslmode=require")
    )
    assert url.where == 'PostgreSQL database "defaultdb" on db.example.com:25060 as doadmin'
    assert "p@ss" not in repr(url)
    for spelling in ("p@ss/w0rd", "p%40ss%2Fw0rd"):
        assert url.scrub(f"failed: {spelling}!") == "failed: ***!"


def test_placeholders_become_the_drivers_and_quoted_text_is_left_alone():
    assert to_driver_sql("SELECT '?', \"a?\", ? FROM t WHERE x LIKE '50%' AND y = ?") == (
        "SELECT '?', \"a?\", %s FROM t WHERE x LIKE '50%%' AND y = %s"
    )


def test_no_session_state_outlives_a_transaction(pg, keyring):
    # PgBouncer in transaction mode may hand each transaction another server session:
    # no prepared statement (psycopg prepares a query run 5 times, unless told not to)
    # and no advisory lock may be left on one.
    with pg.create(keyring) as store:
        for _ in range(10):
            store.connections.exists("prod")
        db = store._db
        assert db.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
        assert pg.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]


def test_a_write_held_up_by_another_transaction_gives_up_with_one_clear_error(
    pg, keyring, monkeypatch
):
    from rotator.store.postgresql import PostgresDatabase

    monkeypatch.setattr(PostgresDatabase, "lock_timeout", "200ms")
    with pg.create(keyring) as holder, pg.open(keyring, writer=True) as blocked:
        holder.connections.add("prod", "", TOKEN_A, "personal", None)
        with holder.transaction():
            holder.connections.update("prod", description="mine, for now")
            with pytest.raises(StoreLocked, match=r"stayed busy .*lock timeout.*try again"):
                blocked.connections.update("prod", description="theirs")
        assert blocked.connections.get("prod").description == "mine, for now"


def test_a_stalled_transaction_is_ended_by_the_server_and_frees_its_locks(pg, keyring, monkeypatch):
    """A replica stopped inside a transaction (SIGSTOP, a GC pause) holds nobody up for long."""
    from rotator.store.postgresql import PostgresDatabase

    monkeypatch.setattr(PostgresDatabase, "idle_timeout", "300ms")
    with pg.create(keyring) as stalled, pg.open(keyring, writer=True) as other:
        stalled.connections.add("prod", "", TOKEN_A, "personal", None)
        with pytest.raises(StoreError), stalled.transaction():
            stalled.connections.update("prod", description="never committed")
            time.sleep(1.5)  # idle inside the transaction, past the server's limit
            other.connections.update("prod", description="the other replica's")
        assert other.connections.get("prod").description == "the other replica's"
        # The stalled store works again with a fresh connection from its pool.
        assert stalled.connections.get("prod").description == "the other replica's"
