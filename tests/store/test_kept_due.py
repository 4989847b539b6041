"""The daemon's kept due times per connection: what forgets them, and the indexed reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rotator.secret import Secret
from rotator.store import ValidationRecord

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _add(store, *names):
    for number, name in enumerate(names):
        token = Secret(f"dop_v1_{number:064x}")
        store.connections.add(name, "", token, "personal", None)


def _unset(store, kind):
    return [name for name, _, _ in store.due.unset(kind, 100)]


def test_a_new_connection_has_no_kept_due_time_until_the_daemon_works_it_out(store):
    _add(store, "prod", "staging")
    assert _unset(store, "validate") == ["prod", "staging"]
    assert _unset(store, "audit") == ["prod", "staging"]
    store.due.set("validate", [("prod", START + HOUR), ("staging", START)])
    assert _unset(store, "validate") == []
    assert store.due.due_by("validate", START) == [("staging", START)]
    assert store.due.next_after("validate", START, 5) == [("prod", START + HOUR)]
    assert store.due.of("validate", ["prod", "gone"]) == {"prod": START + HOUR}


def test_a_validation_or_a_new_token_forgets_the_due_times_it_moves(store):
    _add(store, "prod", "staging")
    for kind in ("validate", "audit"):
        store.due.set(kind, [("prod", START + HOUR), ("staging", START + 2 * HOUR)])
    store.connections.record_validation("prod", ValidationRecord("unknown", "timeout", START))
    assert _unset(store, "validate") == ["prod"]
    assert _unset(store, "audit") == []
    store.connections.update("staging", token=Secret("dop_v1_" + "f" * 64), kind="personal")
    assert _unset(store, "validate") == ["prod", "staging"]
    assert _unset(store, "audit") == ["staging"]


def test_a_scope_report_forgets_the_audit_due_time_and_is_read_back_for_the_next(store):
    _add(store, "prod")
    store.due.set("audit", [("prod", START + HOUR)])
    token_hash = store.connections.get("prod").token_hash
    report = {"verdict": "ok", "required": ["account:read"]}
    assert store.scopes.save("prod", token_hash, START, report, outcome="ok")
    assert store.due.unset("audit", 10) == [("prod", START, ["account:read"])]


def test_a_report_about_an_earlier_token_counts_as_no_report(store):
    _add(store, "prod")
    token_hash = store.connections.get("prod").token_hash
    store.scopes.save("prod", token_hash, START, {"required": []}, outcome="ok")
    store.connections.update("prod", token=Secret("dop_v1_" + "e" * 64), kind="personal")
    assert store.due.unset("audit", 10) == [("prod", None, None)]


def test_a_new_basis_forgets_every_kept_time_of_that_kind_only(store):
    _add(store, "prod", "staging")
    for kind in ("validate", "audit"):
        store.due.set(kind, [("prod", START), ("staging", START)])
    assert store.due.basis("validate") is None
    store.due.rebase("validate", "every 3600s")
    assert store.due.basis("validate") == "every 3600s"
    assert _unset(store, "validate") == ["prod", "staging"]
    assert _unset(store, "audit") == []
    store.due.rebase("validate", "every 60s")
    assert store.due.basis("validate") == "every 60s"


def test_the_soonest_due_come_first_and_ties_go_by_name(store):
    _add(store, "a", "b", "c", "d")
    times = [("a", START + HOUR), ("b", START), ("c", START + HOUR), ("d", START + 3 * HOUR)]
    store.due.set("validate", times)
    assert [name for name, _ in store.due.due_by("validate", START + HOUR)] == ["b", "a", "c"]
    assert [name for name, _ in store.due.next_after("validate", START, 2)] == ["a", "c"]
    assert store.due.next_after("validate", START + 3 * HOUR, 2) == []
