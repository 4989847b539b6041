"""The demo's other credential kinds: a Functions key, a GenAI agent key, registry credentials
and a PostgreSQL user.

Each is arranged in the sandbox, written as one more policy pushing into the
demo app (and Vault when OpenBao runs), rotated, and checked: the values
every sink holds must open the new credential. The database user needs a
PostgreSQL server (the sandbox's managed database is a real one); without
one the demo skips it with a one-line note, as it skips Vault without OpenBao.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from rotator.sandbox.openbao import OpenBao

if TYPE_CHECKING:
    from rotator.commands.demo import Walkthrough
    from rotator.sandbox import Sandbox


@dataclass(frozen=True)
class OtherKinds:
    """The Functions namespace, GenAI agent and registry whose credentials the demo rotates."""

    namespace: str
    agent: str
    registry: str = "demo-registry"
    cluster: str | None = None
    """The managed PostgreSQL cluster (None: no PostgreSQL server here)."""
    database_note: str = ""
    admin: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def arrange(cls, sandbox: Sandbox) -> OtherKinds:
        namespace = sandbox.add_function_namespace("demo-functions")
        sandbox.add_function_key(namespace, "demo-fn")
        agent = sandbox.add_genai_agent("demo-support")
        sandbox.add_agent_key(agent, "demo-agent")
        note = sandbox.databases_unavailable()
        if note is not None:
            return cls(namespace, agent, database_note=note)
        try:
            cluster = sandbox.add_database_cluster("demo-pg")
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            return cls(namespace, agent, database_note=str(exc).splitlines()[0])
        admin = sandbox.database_admin(cluster)
        # What an operator sets up once as doadmin: a role holding the privileges,
        # a table of the application's, and the user rotator takes over.
        with psycopg.connect(**admin, sslmode="disable", autocommit=True) as connection:
            connection.execute("CREATE ROLE demo_rw NOLOGIN")
            connection.execute("CREATE TABLE orders (id int PRIMARY KEY, item text)")
            connection.execute("INSERT INTO orders VALUES (1, 'a rotated password reads me')")
            connection.execute("GRANT SELECT ON orders TO demo_rw")
        sandbox.add_database_user(cluster, "demo_app")
        with psycopg.connect(**admin, sslmode="disable", autocommit=True) as connection:
            connection.execute("GRANT demo_rw TO demo_app")
        return cls(namespace, agent, cluster=cluster, admin=admin)

    @property
    def names(self) -> tuple[str, ...]:
        """The policies the demo rotates beyond the Spaces key."""
        return ("functions", "agent", "registry") + (("database",) if self.cluster else ())

    def policies(self, app_id: str, vault: OpenBao | None) -> str:
        def sinks(env: str, path: str) -> str:
            text = f"""
[[policies.sinks]]
type = "app_platform"
app_id = "{app_id}"
component = "web"
env = {{ {env} }}
"""
            if vault:
                text += f"""
[[policies.sinks]]
type = "vault"
url = "{vault.url}"
mount = "secret"
path = "{path}"
token_file = "{vault.token_file}"
"""
            return text

        return f"""
[[policies]]
name = "functions"
connection = "prod"
kind = "functions_key"
namespace = "{self.namespace}"
key = "demo-fn"
expires_in = "90d"
grace = "1h"
{sinks('FN_KEY_ID = "key_id", FN_SECRET = "secret"', "functions/key")}
[[policies]]
name = "agent"
connection = "prod"
kind = "genai_agent_key"
agent = "{self.agent}"
key = "demo-agent"
grace = "1h"
{sinks('AGENT_API_KEY = "api_key"', "agent/key")}
[[policies]]
name = "registry"
connection = "prod"
kind = "registry_credentials"
registry = "{self.registry}"
expires_in = "40d"
grace = "1h"
{sinks('DOCKER_CONFIG_JSON = "dockerconfigjson"', "registry/docker")}""" + (
            f"""
[[policies]]
name = "database"
connection = "prod"
kind = "database_user"
cluster = "{self.cluster}"
user = "demo_app"
grant_role = "demo_rw"
grace = "1h"
{sinks('DB_USER = "username", DB_PASSWORD = "password", DATABASE_URL = "uri"', "db/orders")}"""
            if self.cluster
            else ""
        )

    def opens(self, sandbox: Sandbox, policy: str, values: dict[str, str]) -> bool:
        """Whether the values a sink holds open a live key of *policy*'s kind."""
        if policy == "functions":
            return sandbox.function_key_opens(
                self.namespace, values.get("key_id", ""), values.get("secret", "")
            )
        if policy == "registry":
            try:
                auths = json.loads(values.get("dockerconfigjson", "{}"))["auths"]
                [entry] = auths.values()
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, KeyError, TypeError):
                return False
            return sandbox.registry_login_works(self.registry, user, password)
        if policy == "database":
            return self.reads_orders(values.get("username", ""), values.get("password", ""))
        return sandbox.agent_key_opens(self.agent, values.get("api_key", ""))

    def reads_orders(self, user: str, password: str) -> bool:
        """Whether *user* logs in with *password* and reads the table through demo_rw."""
        if not user or not password:
            return False
        try:
            with psycopg.connect(
                host=self.admin["host"],
                port=self.admin["port"],
                dbname=self.admin["dbname"],
                user=user,
                password=password,
                sslmode="disable",
                connect_timeout=10,
            ) as connection:
                row = connection.execute("SELECT item FROM orders WHERE id = 1").fetchone()
        except psycopg.Error:
            return False
        return row is not None


def rotate_other_kinds(
    walk: Walkthrough, sandbox: Sandbox, app_id: str, vault: OpenBao | None, kinds: OtherKinds
) -> None:
    targets = {
        "functions": ({"FN_KEY_ID": "key_id", "FN_SECRET": "secret"}, "functions/key"),
        "agent": ({"AGENT_API_KEY": "api_key"}, "agent/key"),
        "registry": ({"DOCKER_CONFIG_JSON": "dockerconfigjson"}, "registry/docker"),
        "database": (
            {"DB_USER": "username", "DB_PASSWORD": "password", "DATABASE_URL": "uri"},
            "db/orders",
        ),
    }
    if not kinds.cluster:
        walk.say(f"note: {kinds.database_note}; the database_user policy is skipped")
    for policy in kinds.names:
        env_names, path = targets[policy]
        result = json.loads(walk.run("rotate", policy, "--json"))
        walk.say(
            f"{policy}: {result.get('status')}, {result.get('old_access_key')} -> "
            f"{result.get('new_access_key')}; "
            + ", ".join(f"{s['name']} {s['status']}" for s in result.get("sinks", []))
        )
        env = sandbox.app_running_env(app_id, "web")
        in_app = {field: env.get(name, "") for name, field in env_names.items()}
        opens = kinds.opens(sandbox, policy, in_app)
        verb = "opens" if len(env_names) == 1 else "open"
        walk.say(f"{policy}: the app's {', '.join(env_names)} {verb} the new key: {opens}")
        found = vault.read("secret", path) if vault else None
        stored = found.get("data") if isinstance(found, dict) else None
        in_vault = kinds.opens(sandbox, policy, stored or {}) if vault else True
        if vault:
            walk.say(f"{policy}: Vault secret/{path} opens the new key: {in_vault}")
        if result.get("status") != "succeeded" or not opens or not in_vault:
            walk.surprises.append(f"policy {policy}: a sink does not serve the new key")
