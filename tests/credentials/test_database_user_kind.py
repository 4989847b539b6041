"""The database_user kind's config, scopes and identifiers, and its SQL checks against a real
PostgreSQL (the sandbox's managed cluster).

Rotations through the CLI are in tests/e2e/test_database_user_rotation.py and,
with every other kind, tests/e2e/test_kind_rotation.py.
"""

from __future__ import annotations

import hashlib

import psycopg
import pytest

from rotator.credentials.database_user import DatabaseUserKind, identify, user_of
from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import ConfigError, CredentialCheckFailed, DigitalOceanError, UsageError
from rotator.secret import Secret
from rotator.settings import PolicyConfig, parse_config

VAULT = {"type": "vault", "url": "http://127.0.0.1:1", "path": "p", "token": "t"}
CLUSTER = "9cc10173-e9ea-4176-9dbc-a4cee4c4ff30"
SCOPES = ["database:read", "database:create", "database:delete", "database:view_credentials"]


def policy(**keys: object) -> PolicyConfig:
    table = {"name": "p", "connection": "c", "sinks": [VAULT], "kind": "database_user", **keys}
    return parse_config({"policies": [table]}).policies[0]


def problems(**keys: object) -> str:
    with pytest.raises(ConfigError) as caught:
        policy(**keys)
    return str(caught.value)


def test_alternating_is_the_default_and_needs_the_role_to_grant():
    chosen = policy(cluster=CLUSTER, user="app", grant_role="app_rw")
    assert chosen.kind_options() == {"cluster": CLUSTER, "user": "app", "grant_role": "app_rw"}
    assert chosen.rotation_scopes() == set(SCOPES)
    assert "needs grant_role" in problems(cluster=CLUSTER, user="app")
    assert "needs cluster, user" in problems()


def test_reset_mode_needs_update_not_create_or_delete_and_takes_no_role():
    reset = policy(cluster=CLUSTER, user="app", mode="reset")
    assert reset.rotation_scopes() == {
        "database:read",
        "database:update",
        "database:view_credentials",
    }
    assert "grant_role is for mode" in problems(
        cluster=CLUSTER, user="app", mode="reset", grant_role="r"
    )


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"cluster": "db-1", "user": "app", "grant_role": "r"}, "cluster must be"),
        ({"cluster": CLUSTER, "user": "app; DROP", "grant_role": "r"}, "user must be"),
        ({"cluster": CLUSTER, "user": "a" * 60, "grant_role": "r"}, "user must be"),
        ({"cluster": CLUSTER, "user": "app", "grant_role": 'r"x'}, "grant_role must be"),
        ({"cluster": CLUSTER, "user": "app", "mode": "swap"}, "mode must be"),
        ({"cluster": CLUSTER, "user": "app", "grant_role": "r", "database": "a/b"}, "database"),
    ],
)
def test_option_values_the_kind_refuses(keys, message):
    assert message in problems(**keys)


def test_a_database_user_policy_takes_no_other_kinds_keys():
    assert "takes no namespace" in problems(
        cluster=CLUSTER, user="app", grant_role="r", namespace="fn-1"
    )


def test_a_user_outside_the_pair_is_never_deleted():
    kind = DatabaseUserKind("p", {"cluster": CLUSTER, "user": "app", "grant_role": "r"}, None)  # type: ignore[arg-type]  # revoke sends nothing here
    assert kind.revoke("someone_else#0123456789ab") is True  # not one of the pair: left alone
    assert kind.pair == ("app", "app_alt")
    assert identify("app", "pw") == "app#" + hashlib.sha256(b"pw").hexdigest()[:12]
    assert user_of(identify("app_alt", "pw")) == "app_alt"


@pytest.fixture
def cluster(sandbox):
    reason = sandbox.databases_unavailable()
    if reason:
        pytest.skip(reason)
    cluster = sandbox.add_database_cluster("unit-pg")
    sandbox.add_database_user(cluster, "app")
    with psycopg.connect(
        **sandbox.database_admin(cluster), sslmode="disable", autocommit=True
    ) as connection:
        connection.execute('CREATE ROLE "app_rw" NOLOGIN')
    return cluster


@pytest.fixture
def bound(sandbox):
    """Binds the kind to the sandbox with a token of the given scopes; closes each client."""
    clients: list[DigitalOceanClient] = []

    def bind(cluster: str, scopes: list[str], **options: str) -> DatabaseUserKind:
        client = DigitalOceanClient(Secret(sandbox.add_token(scopes)), api_url=sandbox.url)
        clients.append(client)
        return DatabaseUserKind("p", {"cluster": cluster, "user": "app", **options}, client)

    yield bind
    for client in clients:
        client.close()


def test_create_then_verify_grants_the_role_and_logs_in(sandbox, cluster, bound):
    kind = bound(cluster, SCOPES, grant_role="app_rw")
    original = kind.current().identifier
    assert user_of(original) == "app"
    kind.template(original)
    name = kind.planned_name("r1")
    assert name == "app_alt"
    credential = kind.create(name, ())
    fields = credential.fields()
    password = fields["password"].reveal()  # type: ignore[union-attr]
    assert credential.identifier == identify("app_alt", password)
    assert fields["username"] == "app_alt"
    assert fields["host"] == "127.0.0.1" and fields["database"].startswith("defaultdb_")
    kind.verify(credential)
    assert sandbox.database_login_works(cluster, "app_alt", password)
    assert kind.find("app_alt") == [credential.identifier]
    assert kind.revoke(credential.identifier) is True and kind.find("app_alt") == []
    assert kind.revoke(credential.identifier) is False


def test_a_revoke_leaves_alone_a_user_of_that_name_with_another_password(sandbox, cluster, bound):
    # A replica that lost its lease revokes what it made; its successor may meanwhile
    # have made a user of the same name, which must survive.
    kind = bound(cluster, SCOPES, grant_role="app_rw")
    kind.template(kind.current().identifier)
    mine = kind.create(kind.planned_name("r1"), ())
    assert kind.revoke(mine.identifier) is True
    theirs = kind.create("app_alt", ())
    assert kind.revoke(mine.identifier) is False
    assert kind.find("app_alt") == [theirs.identifier]


def test_a_role_that_does_not_exist_fails_the_check_without_showing_a_password(
    sandbox, cluster, bound
):
    kind = bound(cluster, SCOPES, grant_role="no_such_role")
    kind.template(kind.current().identifier)
    credential = kind.create(kind.planned_name("r1"), ())
    with pytest.raises(CredentialCheckFailed) as caught:
        kind.verify(credential)
    message = str(caught.value)
    assert "no_such_role" in message
    admin_password = sandbox.database_admin(cluster)["password"]
    for secret in (credential.fields()["password"].reveal(), admin_password):  # type: ignore[union-attr]
        assert secret not in message and secret not in repr(caught.value)


def test_a_user_made_by_hand_under_the_second_name_stops_the_rotation_before_anything(
    sandbox, cluster, bound
):
    sandbox.add_database_user(cluster, "app_alt")
    kind = bound(cluster, SCOPES, grant_role="app_rw")
    kind.template(kind.current().identifier)  # what `config check` asks: fine in a grace period
    with pytest.raises(UsageError, match="already exists"):
        kind.planned_name("r1")


def test_without_view_credentials_nothing_is_read_or_made_and_the_scope_is_named(
    sandbox, cluster, bound
):
    kind = bound(cluster, SCOPES[:3], grant_role="app_rw")
    with pytest.raises(DigitalOceanError, match="database:view_credentials"):
        kind.current()
    with pytest.raises(DigitalOceanError, match="database:view_credentials"):
        kind.create("app_alt", ())  # had it got this far, the answer hides the password


def test_reset_mode_changes_the_password_of_the_same_user(sandbox, cluster, bound):
    before = next(u for u in sandbox.database_users(cluster) if u["name"] == "app")["password"]
    kind = bound(
        cluster,
        ["database:read", "database:update", "database:view_credentials"],
        mode="reset",
    )
    original = kind.current().identifier
    assert original == identify("app", before)
    kind.template(original)
    assert kind.planned_name("r1") == "app"
    credential = kind.create("app", ())
    password = credential.fields()["password"].reveal()  # type: ignore[union-attr]
    assert credential.identifier == identify("app", password)
    assert credential.fields()["username"] == "app"
    kind.verify(credential)
    assert not sandbox.database_login_works(cluster, "app", before)
    assert kind.find("app") == []
    assert kind.revoke(original) is True  # nothing to delete: the same user, a new password
    assert "app" in {u["name"] for u in sandbox.database_users(cluster)}


def test_the_interface_spelling_database_as_the_cluster_uuid_names_the_cluster():
    chosen = policy(database=CLUSTER, user="app", grant_role="app_rw")
    assert chosen.kind_options() == {"cluster": CLUSTER, "user": "app", "grant_role": "app_rw"}
    named = policy(cluster=CLUSTER, database="appdb", user="app", grant_role="app_rw")
    assert named.kind_options()["database"] == "appdb"
