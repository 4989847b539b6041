"""One description per credential kind, so each rotation test runs over every kind.

A :class:`KindCase` arranges a kind's credential in the sandbox, writes its
policy, and reads the server's truth: which credentials of the policy are
alive, the secret of each, and whether the values a sink holds still open a
live credential.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from rotator.credentials.database_user import identify
from rotator.sandbox import Sandbox

BASE_SCOPES = ["account:read", "app:read", "app:update"]


@dataclass
class KindCase:
    """A kind as the tests drive it."""

    kind: str
    scopes: list[str]
    env: dict[str, str]
    """The App Platform sink's ``env`` table: variable → field."""
    create_path: str
    """A regex for the kind's create call (the crash tests kill right after it)."""
    revoke_path: str
    create_method: str = "POST"
    keys: str = ""
    """The policy's kind-specific TOML lines (filled in by :meth:`arrange`)."""
    alive: Callable[[], dict[str, dict[str, Any]]] = field(default=lambda: {})
    """Every live credential of the policy's family: identifier → the server's record."""
    values_of: Callable[[dict[str, Any]], dict[str, str]] = field(default=lambda record: {})
    """A live credential's fields, from the server's record."""
    secret_field: str = ""
    opens: Callable[[Mapping[str, str]], bool] = field(default=lambda values: False)
    """Whether field values (as a sink holds them) open a live credential."""
    original: str = ""
    """The identifier of the credential the sinks hold before the first rotation."""
    adopted: str = ""
    """The identifier the store starts from (the original's, unless the kind cannot know it)."""
    revokes: bool = True
    """Whether the kind revokes the original credential (registry credentials made by hand
    were never held by rotator, so they expire; those rotator minted are revoked)."""
    check: str = ""
    """A regex for the GET that proves a new credential works before any push ("": none)."""
    findable: bool = True
    """Whether a credential minted by a lost answer can be found again by its planned name."""
    made_by_rotator: Callable[[str, dict[str, Any]], bool] = field(
        default=lambda ident, record: str(record["name"]).startswith("rotator-media-")
    )
    """Whether a live credential is one rotator made (named by a rotation)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """What a kind's own tests need beyond the shared ones (a cluster id, a role)."""

    def policy(self, app_id: str, *, grace: str = "1s", more_sinks: str = "") -> str:
        env = ", ".join(f'{name} = "{value}"' for name, value in self.env.items())
        return f"""
[[policies]]
name = "media"
connection = "prod"
{self.keys}
every = "30d"
grace = "{grace}"

[[policies.sinks]]
type = "app_platform"
app_id = "{app_id}"
component = "web"
env = {{ {env} }}
{more_sinks}"""

    def app_values(self, app_env: Mapping[str, str]) -> dict[str, str]:
        """The fields as the running app has them."""
        return {field: app_env[name] for name, field in self.env.items()}

    def __post_init__(self) -> None:
        self.adopted = self.adopted or self.original

    def secret_of(self, record: dict[str, Any]) -> str:
        return self.values_of(record)[self.secret_field]

    def secrets(self) -> set[str]:
        return {self.secret_of(record) for record in self.alive().values()}

    def original_values(self) -> dict[str, str]:
        return self.values_of(self.alive()[self.original])

    def seed_app(self, sandbox: Sandbox, app_id: str) -> str:
        """A copy of the demo app whose web service already holds the original credential."""
        spec = copy.deepcopy(sandbox.app(app_id)["spec"])
        spec["name"] = f"kind-{self.kind.replace('_', '-')}"[:32]
        web = spec["services"][0]
        owned = set(self.env)
        envs = [e for e in web.get("envs", []) if e["key"] not in owned]
        values = self.original_values()
        for name, field_name in self.env.items():
            kind = "SECRET" if field_name == self.secret_field else "GENERAL"
            envs.append(
                {"key": name, "value": values[field_name], "scope": "RUN_TIME", "type": kind}
            )
        web["envs"] = envs
        return sandbox.add_app(spec)


def spaces_key(sandbox: Sandbox) -> KindCase:
    key = next(k for k in sandbox.spaces_keys() if k["name"] == "demo-media")

    def alive() -> dict[str, dict[str, Any]]:
        return {
            k["access_key"]: k
            for k in sandbox.spaces_keys()
            if k["name"] == "demo-media" or k["name"].startswith("rotator-media-")
        }

    def opens(values: Mapping[str, str]) -> bool:
        found = alive().get(values.get("access_key", ""))
        return found is not None and found["secret_key"] == values.get("secret_key")

    return KindCase(
        "spaces_key",
        [*BASE_SCOPES, "spaces_key:read", "spaces_key:create_credentials", "spaces_key:delete"],
        {"SPACES_KEY": "access_key", "SPACES_SECRET": "secret_key"},
        "/v2/spaces/keys",
        "/v2/spaces/keys/[^/]+",
        keys='spaces_key = "demo-media"',
        alive=alive,
        values_of=lambda r: {"access_key": r["access_key"], "secret_key": r["secret_key"]},
        secret_field="secret_key",
        opens=opens,
        original=key["access_key"],
    )


def functions_key(sandbox: Sandbox) -> KindCase:
    namespace = sandbox.add_function_namespace("media-functions")
    original = sandbox.add_function_key(namespace, "media-fn")

    def alive() -> dict[str, dict[str, Any]]:
        return {k["id"]: k for k in sandbox.function_keys(namespace)}

    def opens(values: Mapping[str, str]) -> bool:
        return sandbox.function_key_opens(
            namespace, values.get("key_id", ""), values.get("secret", "")
        )

    return KindCase(
        "functions_key",
        [*BASE_SCOPES, "function:admin"],
        {"FN_KEY_ID": "key_id", "FN_SECRET": "secret"},
        f"/v2/functions/namespaces/{namespace}/keys",
        f"/v2/functions/namespaces/{namespace}/keys/[^/]+",
        keys=(
            f'kind = "functions_key"\nnamespace = "{namespace}"\nkey = "media-fn"\n'
            'expires_in = "90d"'
        ),
        alive=alive,
        values_of=lambda record: {"key_id": record["id"], "secret": record["secret"]},
        secret_field="secret",
        opens=opens,
        original=original["id"],
        check="/api/v1/namespaces/_/actions",
    )


def genai_agent_key(sandbox: Sandbox) -> KindCase:
    agent = sandbox.add_genai_agent("support")
    original = sandbox.add_agent_key(agent, "media-agent")

    def alive() -> dict[str, dict[str, Any]]:
        return {k["uuid"]: k for k in sandbox.agent_keys(agent)}

    def opens(values: Mapping[str, str]) -> bool:
        return sandbox.agent_key_opens(agent, values.get("api_key", ""))

    return KindCase(
        "genai_agent_key",
        [*BASE_SCOPES, "genai:read", "genai:create", "genai:delete"],
        {"AGENT_API_KEY": "api_key"},
        f"/v2/gen-ai/agents/{agent}/api_keys",
        f"/v2/gen-ai/agents/{agent}/api_keys/[^/]+",
        keys=f'kind = "genai_agent_key"\nagent = "{agent}"\nkey = "media-agent"',
        alive=alive,
        values_of=lambda record: {"api_key": record["secret_key"]},
        secret_field="api_key",
        opens=opens,
        original=original["uuid"],
    )


def registry_credentials(sandbox: Sandbox) -> KindCase:
    registry = "demo-registry"
    original = sandbox.add_registry_credentials(registry, expiry_seconds=90 * 86400)

    def values_of(record: dict[str, Any]) -> dict[str, str]:
        config = {"auths": {"registry.digitalocean.com": {"auth": ""}}}
        config["auths"]["registry.digitalocean.com"]["auth"] = base64.b64encode(
            f"{record['username']}:{record['password']}".encode()
        ).decode()
        return {
            "dockerconfigjson": json.dumps(config, separators=(",", ":")),
            "username": record["username"],
            "password": record["password"],
            "registry": "registry.digitalocean.com",
        }

    def opens(values: Mapping[str, str]) -> bool:
        return sandbox.registry_login_works(
            registry, values.get("username", ""), values.get("password", "")
        )

    return KindCase(
        "registry_credentials",
        [*BASE_SCOPES, "registry:read", "registry:update"],
        {
            "DOCKER_CONFIG_JSON": "dockerconfigjson",
            "REGISTRY_USER": "username",
            "REGISTRY_PASSWORD": "password",
            "REGISTRY_HOST": "registry",
        },
        f"/v2/registries/{registry}/docker-credentials",
        "",
        create_method="GET",
        keys=f'kind = "registry_credentials"\nregistry = "{registry}"\nexpires_in = "90d"',
        alive=lambda: {c["id"]: c for c in sandbox.registry_credentials(registry)},
        values_of=values_of,
        secret_field="password",
        opens=opens,
        original=original["id"],
        adopted="docr-initial",
        check="/v2/registry/auth",
        revokes=False,
        findable=False,
    )


def database_user(sandbox: Sandbox) -> KindCase:
    """A managed PostgreSQL user in alternating mode; the data belongs to a granted role."""
    reason = sandbox.databases_unavailable()
    if reason:
        pytest.skip(reason)
    cluster = sandbox.add_database_cluster("media-pg")
    suffix = secrets.token_hex(3)
    user, role = f"media_{suffix}", f"media_rw_{suffix}"
    pair = (user, user + "_alt")
    admin = sandbox.database_admin(cluster)
    with psycopg.connect(**admin, sslmode="disable", autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{role}" NOLOGIN')
        connection.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        connection.execute("INSERT INTO notes VALUES (1, 'kept by the granted role')")
        connection.execute(f'GRANT SELECT, INSERT ON notes TO "{role}"')
    first = sandbox.add_database_user(cluster, user)
    with psycopg.connect(**admin, sslmode="disable", autocommit=True) as connection:
        connection.execute(f'GRANT "{role}" TO "{user}"')

    def alive() -> dict[str, dict[str, Any]]:
        return {
            identify(u["name"], u["password"]): u
            for u in sandbox.database_users(cluster)
            if u["name"] in pair
        }

    def values_of(record: dict[str, Any]) -> dict[str, str]:
        name, password = record["name"], record["password"]
        host, port, database = admin["host"], admin["port"], admin["dbname"]
        return {
            "username": name,
            "password": password,
            "host": host,
            "port": str(port),
            "database": database,
            "uri": f"postgresql://{name}:{password}@{host}:{port}/{database}?sslmode=disable",
        }

    def opens(values: Mapping[str, str]) -> bool:
        return sandbox.database_login_works(
            cluster, values.get("username", ""), values.get("password", "")
        )

    return KindCase(
        "database_user",
        [
            *BASE_SCOPES,
            "database:read",
            "database:create",
            "database:delete",
            "database:view_credentials",
        ],
        {
            "DB_USER": "username",
            "DB_PASSWORD": "password",
            "DB_HOST": "host",
            "DB_PORT": "port",
            "DB_NAME": "database",
            "DATABASE_URL": "uri",
        },
        f"/v2/databases/{cluster}/users",
        f"/v2/databases/{cluster}/users/[^/]+",
        keys=(
            f'kind = "database_user"\ncluster = "{cluster}"\nuser = "{user}"\ngrant_role = "{role}"'
        ),
        alive=alive,
        values_of=values_of,
        secret_field="password",
        opens=opens,
        original=identify(user, first["password"]),
        made_by_rotator=lambda ident, record: record["name"] in pair,
        extra={"cluster": cluster, "role": role, "pair": pair, "admin": admin},
    )


KIND_CASES: dict[str, Callable[[Sandbox], KindCase]] = {
    "spaces_key": spaces_key,
    "functions_key": functions_key,
    "genai_agent_key": genai_agent_key,
    "registry_credentials": registry_credentials,
    "database_user": database_user,
}
