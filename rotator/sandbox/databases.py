"""Managed PostgreSQL clusters and their users, backed by a real local PostgreSQL.

Rules taken from the official spec (``resources/databases/databases_*_user.yml``,
``databases_reset_auth.yml``, ``databases_get_cluster.yml`` and
``models/database_user.yml``, ``models/database_connection.yml``):

- ``GET /v2/databases/{id}`` (``database:read``) → ``{database: {…, connection:
  {uri, database, host, port, user, password, ssl}}}``; the admin user and
  password only with ``database:view_credentials``;
- ``GET …/users`` and ``GET …/users/{name}`` (``database:read``) → ``{users}``
  / ``{user}``: ``{name, role: primary|normal, password}``, the password only
  with ``database:view_credentials``;
- ``POST …/users`` (``database:create``) with ``{name}`` → **201** ``{user}``
  with its generated password;
- ``POST …/users/{name}/reset_auth`` (``database:update``) with a JSON object
  (``mysql_settings`` only matters for MySQL) → 200 ``{user}`` with a new password;
- ``DELETE …/users/{name}`` (``database:delete``) → 204.

Each cluster made by :func:`add_cluster` is one database and one admin role on
a real PostgreSQL server (:mod:`rotator.sandbox.postgres`): creating a user
runs ``CREATE ROLE … LOGIN PASSWORD``, a reset ``ALTER ROLE … PASSWORD``, a
delete ``DROP ROLE``, so a client really logs in with what the API answered.
Passwords reach the server only as SCRAM verifiers computed here (libpq's
``PQencryptPasswordConn``), never as text in a statement. The connection
answers the server's loopback host and port, ``ssl: false``. A cluster whose
server is not running (none installed, or a state file reloaded) answers 503
to whatever needs the server (a create, reset or delete of an existing user).
"""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any, LiteralString

import psycopg
from psycopg import sql

from rotator.sandbox.calls import Call, Problem, Reply, not_found, unprocessable
from rotator.sandbox.deployments import iso
from rotator.sandbox.scopes import expand_scopes
from rotator.sandbox.state import State, Tenant

if TYPE_CHECKING:
    from rotator.sandbox.postgres import PostgresCluster

CLUSTERS = "databases"
USERS = "database_users"
VIEW_CREDENTIALS = "database:view_credentials"
_NAME_LIMIT = 63  # PostgreSQL's identifier length


def _password() -> str:
    """A password shaped like DigitalOcean's recent ones (``AVNS_`` and 20 characters)."""
    return "AVNS_" + secrets.token_urlsafe(15)


def cluster(tenant: Tenant, cluster_id: str) -> dict[str, Any]:
    """The cluster *cluster_id* of the account; 404 Problem when absent."""
    for item in tenant.resources.get(CLUSTERS, []):
        if item.get("id") == cluster_id:
            return item
    raise Problem(404, "database cluster not found")


def users(tenant: Tenant, cluster_id: str) -> list[dict[str, Any]]:
    """The cluster's users, passwords included (the server's truth)."""
    return [u for u in tenant.resources.get(USERS, []) if u["cluster_id"] == cluster_id]


def server(state: State, cluster_id: str) -> PostgresCluster:
    """The running server behind a cluster; 503 when there is none."""
    found = state.database_servers.get(cluster_id)
    if found is None:
        raise Problem(
            503,
            "This sandbox has no PostgreSQL server for the cluster (none installed, or the "
            "state was reloaded without one).",
        )
    return found


def _with_password(
    target: PostgresCluster, statement: LiteralString, name: str, password: str
) -> None:
    """``statement`` (``… ROLE {} … PASSWORD {}``) run for role *name* as the superuser.

    The password goes in as its SCRAM verifier, so no statement (nor a server
    log line quoting one) ever holds it.
    """
    with target.connect() as connection:
        verifier = connection.pgconn.encrypt_password(password.encode(), b"", b"scram-sha-256")
        connection.execute(
            sql.SQL(statement).format(sql.Identifier(name), sql.Literal(verifier.decode()))
        )


def add_cluster(state: State, tenant: Tenant, target: PostgresCluster, name: str) -> dict[str, Any]:
    """A managed cluster: a database and an admin role (``doadmin_…``) on *target*."""
    suffix = secrets.token_hex(3)
    admin, database, password = f"doadmin_{suffix}", f"defaultdb_{suffix}", _password()
    _with_password(target, "CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}", admin, password)
    target.admin(
        sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(database), sql.Identifier(admin)
        )
    )
    with state.changing():
        cluster_id = str(uuid.uuid4())
        item = {
            "id": cluster_id,
            "name": name,
            "engine": "pg",
            "version": "15",
            "num_nodes": 1,
            "size": "db-s-1vcpu-1gb",
            "region": "nyc3",
            "status": "online",
            "created_at": iso(state.clock()),
            "db_names": [database],
            "tags": None,
            "storage_size_mib": 10240,
            "connection": {
                "database": database,
                "host": "127.0.0.1",
                "port": target.port,
                "ssl": False,
            },
        }
        tenant.resources.setdefault(CLUSTERS, []).append(item)
        tenant.resources.setdefault(USERS, []).append(
            {"cluster_id": cluster_id, "name": admin, "role": "primary", "password": password}
        )
        state.database_servers[cluster_id] = target
        return dict(item)


def _shown(call: Call, user: dict[str, Any]) -> dict[str, Any]:
    """A user as the API shows it: the password only to a token allowed to view credentials."""
    shown = {"name": user["name"], "role": user["role"]}
    if VIEW_CREDENTIALS in expand_scopes(call.token.scopes if call.token else []):
        shown["password"] = user["password"]
    return shown


def _connection(call: Call, item: dict[str, Any]) -> dict[str, Any]:
    connection = dict(item["connection"])
    admin = next(u for u in users(call.tenant, item["id"]) if u["role"] == "primary")
    host, port, database = connection["host"], connection["port"], connection["database"]
    if VIEW_CREDENTIALS in expand_scopes(call.token.scopes if call.token else []):
        connection["user"], connection["password"] = admin["name"], admin["password"]
        connection["uri"] = (
            f"postgresql://{admin['name']}:{admin['password']}@{host}:{port}/{database}"
            "?sslmode=disable"
        )
    else:
        connection["uri"] = f"postgresql://{host}:{port}/{database}?sslmode=disable"
    return connection


def get_cluster(call: Call) -> Reply:
    """``GET /v2/databases/{id}`` (database:read); a managed cluster's live connection."""
    with call.state.lock:
        item = dict(cluster(call.tenant, call.params["database_cluster_uuid"]))
        if item["id"] in call.state.database_servers:
            item["connection"] = _connection(call, item)
            item["users"] = [_shown(call, u) for u in users(call.tenant, item["id"])]
    return Reply(200, {"database": item})


def _find(call: Call) -> dict[str, Any]:
    cluster_id = call.params["database_cluster_uuid"]
    cluster(call.tenant, cluster_id)
    for user in users(call.tenant, cluster_id):
        if user["name"] == call.params["username"]:
            return user
    raise not_found()


def list_users(call: Call) -> Reply:
    """``GET …/users`` (database:read) → ``{users}``."""
    with call.state.lock:
        cluster_id = call.params["database_cluster_uuid"]
        cluster(call.tenant, cluster_id)
        return Reply(200, {"users": [_shown(call, u) for u in users(call.tenant, cluster_id)]})


def get_user(call: Call) -> Reply:
    """``GET …/users/{username}`` (database:read) → ``{user}``."""
    with call.state.lock:
        return Reply(200, {"user": _shown(call, _find(call))})


def create_user(state: State, tenant: Tenant, cluster_id: str, name: Any) -> dict[str, Any]:
    """``CREATE ROLE name LOGIN`` with a new password; Problems as the API answers them."""
    with state.changing():
        cluster(tenant, cluster_id)
        if not isinstance(name, str) or not name or len(name) > _NAME_LIMIT:
            raise unprocessable("name is required (1 to 63 characters).")
        if any(u["name"] == name for u in users(tenant, cluster_id)):
            raise unprocessable(f"user {name} already exists.")
        target = server(state, cluster_id)
        password = _password()
        try:
            _with_password(target, "CREATE ROLE {} LOGIN PASSWORD {}", name, password)
        except psycopg.errors.DuplicateObject as exc:
            raise unprocessable(f"user {name} already exists.") from exc
        user = {"cluster_id": cluster_id, "name": name, "role": "normal", "password": password}
        tenant.resources.setdefault(USERS, []).append(user)
        return dict(user)


def add_user(call: Call) -> Reply:
    """``POST …/users`` (database:create) → 201 ``{user}`` with its password."""
    cluster_id = call.params["database_cluster_uuid"]
    with call.state.lock:
        cluster(call.tenant, cluster_id)  # 404 before the body is read
    body = call.json_object()
    user = create_user(call.state, call.tenant, cluster_id, body.get("name"))
    return Reply(201, {"user": _shown(call, user)})


def reset_auth(call: Call) -> Reply:
    """``POST …/users/{username}/reset_auth`` (database:update): ``ALTER ROLE … PASSWORD``."""
    with call.state.changing():
        user = _find(call)
        call.json_object()
        target = server(call.state, call.params["database_cluster_uuid"])
        password = _password()
        _with_password(target, "ALTER ROLE {} PASSWORD {}", user["name"], password)
        user["password"] = password
        return Reply(200, {"user": _shown(call, user)})


def delete_user(call: Call) -> Reply:
    """``DELETE …/users/{username}`` (database:delete) → 204: ``DROP ROLE``."""
    with call.state.changing():
        user = _find(call)
        if user["role"] == "primary":
            raise unprocessable("The primary user cannot be removed.")
        target = server(call.state, call.params["database_cluster_uuid"])
        try:
            target.admin(sql.SQL("DROP ROLE {}").format(sql.Identifier(user["name"])))
        except psycopg.errors.DependentObjectsStillExist as exc:
            raise unprocessable(
                f"user {user['name']} still owns objects or holds privileges."
            ) from exc
        call.tenant.resources[USERS].remove(user)
        return Reply(204)


def login_works(
    target: PostgresCluster, database: str, user: str, password: str, *, timeout: int = 10
) -> bool:
    """Whether *user* logs in to *database* with *password* over TCP now."""
    try:
        with psycopg.connect(
            host="127.0.0.1",
            port=target.port,
            user=user,
            password=password,
            dbname=database,
            sslmode="disable",
            connect_timeout=timeout,
        ) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


HANDLERS = {
    "databases_get_cluster": get_cluster,
    "databases_list_users": list_users,
    "databases_get_user": get_user,
    "databases_add_user": add_user,
    "databases_reset_auth": reset_auth,
    "databases_delete_user": delete_user,
}
