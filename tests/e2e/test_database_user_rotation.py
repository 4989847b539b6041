"""database_user through the CLI, the sandbox and a real PostgreSQL: what only a database shows.

The shared kind tests (test_kind_rotation.py) already run this kind through
a rotation, a dry run, kills and a canary sweep; here: the new password
logs in and reads a table through the granted role, the older user is
dropped by the daemon after the grace period, a kill between the create and
the grant resumes into a granted user, reset mode, a token that may not see
credentials, and the admin password never showing anywhere.
"""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from rotator.credentials.database_user import user_of
from tests.e2e.kinds_support import KindCase, database_user
from tests.support.cli import rotate_killed_after


@pytest.fixture
def case(sandbox) -> KindCase:
    return database_user(sandbox)


@pytest.fixture
def db(initialised, sandbox, case):
    """A database_user policy (alternating) into an app that holds the original user."""
    app_id = case.seed_app(sandbox, sandbox.app_ids()[0])
    initialised.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "5s"\n' + case.policy(app_id)
    )
    assert initialised.add("prod", sandbox.add_token(case.scopes)).code == 0
    initialised.app_id = app_id
    return initialised


def users(case: KindCase) -> set[str]:
    """The names of the policy's live users."""
    return {record["name"] for record in case.alive().values()}


def app_login(sandbox, run, case: KindCase) -> dict[str, str]:
    return case.app_values(sandbox.app_running_env(run.app_id, "web"))


def read_notes(values: dict[str, str]) -> list[str]:
    """Log in with the values an app holds and read the table only the granted role may read."""
    with psycopg.connect(
        host=values["host"],
        port=int(values["port"]),
        user=values["username"],
        password=values["password"],
        dbname=values["database"],
        sslmode="disable",
        connect_timeout=10,
    ) as connection:
        return [row[0] for row in connection.execute("SELECT body FROM notes ORDER BY id")]


def is_member(case: KindCase, user: str) -> bool:
    admin = case.extra["admin"]
    with psycopg.connect(**admin, sslmode="disable", connect_timeout=10) as connection:
        row = connection.execute(
            "SELECT pg_has_role(%s, %s, 'MEMBER')", (user, case.extra["role"])
        ).fetchone()
    return bool(row and row[0])


def roles(case: KindCase) -> list[tuple[str, str | None]]:
    """Every role on the server and the roles it is a member of (the server's own truth)."""
    admin = case.extra["admin"]
    with psycopg.connect(**admin, sslmode="disable", connect_timeout=10) as connection:
        return list(
            connection.execute(
                "SELECT r.rolname, g.rolname FROM pg_roles r "
                "LEFT JOIN pg_auth_members m ON m.member = r.oid "
                "LEFT JOIN pg_roles g ON g.oid = m.roleid ORDER BY 1, 2"
            )
        )


def test_the_new_password_logs_in_and_reads_through_the_granted_role(db, sandbox, case):
    result = db("rotate", "media", "--json")
    assert result.code == 0, result.output
    document = json.loads(result.stdout)
    first, second = case.extra["pair"]
    assert user_of(case.original) == first
    assert document["old_access_key"] == case.original
    assert user_of(document["new_access_key"]) == second
    assert document["new_access_key"] in case.alive()  # named by its user and password
    values = app_login(sandbox, db, case)
    assert values["username"] == second
    assert read_notes(values) == ["kept by the granted role"]
    assert is_member(case, second)


def test_the_older_user_is_dropped_by_the_daemon_after_the_grace_period(db, sandbox, case):
    first, second = case.extra["pair"]
    assert db("rotate", "media").code == 0
    assert users(case) == {first, second}  # both during the grace period
    check = db("config", "check")
    assert check.code == 0, check.output  # both users alive is no problem to report
    time.sleep(1.2)  # past the 1 s grace period
    once = db("run", "--once")
    assert once.code == 0, once.output
    assert users(case) == {second}
    assert first not in {name for name, _ in roles(case)}  # DROP ROLE really ran
    assert read_notes(app_login(sandbox, db, case)) == ["kept by the granted role"]
    # The next rotation alternates back to the first name, granted afresh.
    again = json.loads(db("rotate", "media", "--json").stdout)
    assert (user_of(again["old_access_key"]), user_of(again["new_access_key"])) == (second, first)
    assert again["new_access_key"] != case.original  # the name came back; the identifier did not
    assert read_notes(app_login(sandbox, db, case)) == ["kept by the granted role"]


def test_a_dry_run_leaves_every_role_and_membership_as_it_was(db, case):
    before = roles(case)
    result = db("rotate", "media", "--dry-run", "--json")
    assert result.code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    assert any(f"create user {case.extra['pair'][1]}" in step for step in steps)
    assert roles(case) == before


def test_a_kill_between_the_create_and_the_grant_resumes_into_a_granted_user(db, sandbox, case):
    cluster = case.extra["cluster"]
    second = case.extra["pair"][1]
    # The cluster is read twice: by the plan (its engine and connection), then for the
    # admin login that grants. Let the first through and kill right after the second,
    # when the new user is created and recorded but not yet granted.
    rotate_killed_after(db, sandbox, "GET", f"^/v2/databases/{cluster}$", let_through=1)
    status = json.loads(db("status", "--json").stdout)["policies"][0]
    assert user_of(status["in_flight"]["new_access_key"]) == second
    assert second in users(case) and not is_member(case, second)
    resumed = db("rotate", "media", "--json")
    assert resumed.code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "resumed"
    assert is_member(case, second)
    assert read_notes(app_login(sandbox, db, case)) == ["kept by the granted role"]


def test_a_kill_right_after_the_create_call_deletes_the_lost_user_and_makes_it_again(
    db, sandbox, case
):
    cluster = case.extra["cluster"]
    second = case.extra["pair"][1]
    rotate_killed_after(db, sandbox, "POST", f"^/v2/databases/{cluster}/users$")
    # Created, but its answer died with the process.
    lost = next(u["password"] for u in case.alive().values() if u["name"] == second)
    resumed = db("rotate", "media", "--json")
    assert resumed.code == 0, resumed.output
    values = app_login(sandbox, db, case)
    assert values["username"] == second and values["password"] != lost
    assert not sandbox.database_login_works(cluster, second, lost)
    assert read_notes(values) == ["kept by the granted role"]


def test_reset_mode_changes_the_password_in_place_and_says_there_is_a_gap(
    initialised, sandbox, case
):
    app_id = case.seed_app(sandbox, sandbox.app_ids()[0])
    policy = case.policy(app_id).replace(f'grant_role = "{case.extra["role"]}"', 'mode = "reset"')
    initialised.config.write_text('[digitalocean]\nretries = 1\ntimeout = "5s"\n' + policy)
    scopes = ["account:read", "app:read", "app:update", "database:read", "database:update"]
    assert (
        initialised.add("prod", sandbox.add_token([*scopes, "database:view_credentials"])).code == 0
    )
    initialised.app_id = app_id
    old = case.original_values()
    dry = initialised("rotate", "media", "--dry-run")
    assert "a gap" in dry.output
    result = initialised("rotate", "media", "--json")
    assert result.code == 0, result.output
    assert "a gap" in result.stderr
    values = app_login(sandbox, initialised, case)
    assert values["username"] == user_of(case.original)  # the same user, a new password
    assert values["password"] != old["password"]
    cluster = case.extra["cluster"]
    assert not sandbox.database_login_works(cluster, user_of(case.original), old["password"])
    assert read_notes(values) == ["kept by the granted role"]  # it kept its membership
    time.sleep(1.2)
    assert initialised("run", "--once").code == 0
    assert users(case) == {user_of(case.original)}  # "revoking" a reset password deletes no one


def test_a_token_that_may_not_view_credentials_fails_clearly_and_makes_no_user(
    initialised, sandbox, case
):
    app_id = case.seed_app(sandbox, sandbox.app_ids()[0])
    initialised.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "5s"\n' + case.policy(app_id)
    )
    scopes = [s for s in case.scopes if s != "database:view_credentials"]
    assert initialised.add("prod", sandbox.add_token(scopes)).code == 0
    result = initialised("rotate", "media")
    assert result.code == 1
    assert "database:view_credentials" in result.output
    assert set(case.alive()) == {case.original}  # nothing was made


def test_the_admin_password_and_every_user_password_stay_out_of_output_and_store(db, sandbox, case):
    db.env["ROTATOR_LOG_LEVEL"] = "DEBUG"
    seen = {case.extra["admin"]["password"], *case.secrets()}
    db("rotate", "media", "--json")
    seen |= case.secrets()
    db("rotate", "media", "--dry-run")
    for command in (("status", "--json"), ("history", "--json"), ("config", "check")):
        db(*command)
    outputs = "\n".join(result.output for result in db.transcript)
    files = b"".join(path.read_bytes() for path in db.state_dir.rglob("*") if path.is_file())
    for secret in seen:
        assert secret not in outputs
        assert secret.encode() not in files
