"""The sandbox's helpers for credential kinds beyond Spaces keys (a mixin of ``Sandbox``).

Arrange a Functions namespace, a GenAI agent, a registry or a managed
PostgreSQL cluster, read the server's truth (secrets included) and ask
whether a secret still opens its credential, as a client of that product
would find out.
"""

from __future__ import annotations

import secrets
from typing import Any

from rotator.sandbox import databases, functions, genai, registry
from rotator.sandbox.calls import Problem
from rotator.sandbox.deployments import iso
from rotator.sandbox.postgres import PostgresCluster, server_bindir
from rotator.sandbox.state import State


class KindHelpers:
    """Helpers for the Functions and GenAI credential kinds."""

    state: State
    _url: str
    _own_postgres: PostgresCluster | None = None

    # -- Functions namespaces and their access keys ------------------------------------

    def add_function_namespace(self, label: str, *, account: str | None = None) -> str:
        """Create a namespace; returns its id (``fn-`` and a UUID)."""
        tenant = self.state.tenant(account)
        with self.state.changing():
            namespace = f"fn-{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}"
            namespace += f"-{secrets.token_hex(2)}-{secrets.token_hex(6)}"
            now = iso(self.state.clock())
            tenant.resources.setdefault(functions.NAMESPACES, []).append(
                {
                    "namespace": namespace,
                    "label": label,
                    "region": "nyc1",
                    # Its API host is the sandbox itself once it listens (functions.api_host).
                    "api_host": self._url or "https://faas-nyc1-2ef2e6cc.doserverless.co",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        return namespace

    def add_function_key(
        self,
        namespace: str,
        name: str,
        *,
        expires_in: str | None = None,
        account: str | None = None,
    ) -> dict[str, Any]:
        """Create a namespace key directly; returns it with its ``secret``."""
        tenant = self.state.tenant(account)
        try:
            return functions.create_key(self.state, tenant, namespace, name, expires_in)
        except Problem as problem:
            raise ValueError(problem.message) from problem

    def function_keys(self, namespace: str, *, account: str | None = None) -> list[dict[str, Any]]:
        """Every key of the namespace, secrets included (the server's truth)."""
        with self.state.lock:
            tenant = self.state.tenant(account)
            return [dict(k) for k in functions.KEYS.keys(tenant, namespace)]

    def function_key_opens(
        self, namespace: str, key_id: str, secret: str, *, account: str | None = None
    ) -> bool:
        """Whether *key_id* and *secret* authenticate to the namespace now."""
        with self.state.lock:
            tenant = self.state.tenant(account)
            return functions.authenticates(tenant, namespace, key_id, secret, self.state.clock())

    # -- GenAI agents and their API keys --------------------------------------------

    def add_genai_agent(self, name: str, *, account: str | None = None) -> str:
        """Create an agent; returns its UUID."""
        return str(genai.add_agent(self.state, self.state.tenant(account), name)["uuid"])

    def add_agent_key(self, agent: str, name: str, *, account: str | None = None) -> dict[str, Any]:
        """Create an agent API key directly; returns it with its ``secret_key``."""
        try:
            return genai.create_key(self.state, self.state.tenant(account), agent, name)
        except Problem as problem:
            raise ValueError(problem.message) from problem

    def agent_keys(self, agent: str, *, account: str | None = None) -> list[dict[str, Any]]:
        """Every API key of the agent, secrets included (the server's truth)."""
        with self.state.lock:
            return [dict(k) for k in genai.KEYS.keys(self.state.tenant(account), agent)]

    def agent_key_opens(self, agent: str, secret: str, *, account: str | None = None) -> bool:
        """Whether *secret* is a live API key of the agent."""
        with self.state.lock:
            return genai.authenticates(self.state.tenant(account), agent, secret)

    # -- container registry Docker credentials -----------------------------------------

    def registry_credentials(
        self, name: str, *, account: str | None = None
    ) -> list[dict[str, Any]]:
        """The registry's credentials that still work, secrets included (the server's truth)."""
        with self.state.lock:
            tenant = self.state.tenant(account)
            return registry.live(self.state, tenant, name, self.state.clock())

    def add_registry_credentials(
        self, name: str, *, expiry_seconds: int = 0, account: str | None = None
    ) -> dict[str, Any]:
        """Mint credentials for the registry directly; returns them (``docker_config`` too)."""
        try:
            record = registry.mint(
                self.state, self.state.tenant(account), name, False, expiry_seconds
            )
        except Problem as problem:
            raise ValueError(problem.message) from problem
        return {**record, "docker_config": registry.docker_config(record)}

    def registry_login_works(
        self, name: str, username: str, password: str, *, account: str | None = None
    ) -> bool:
        """Whether a Docker login to the registry with these credentials works now."""
        with self.state.lock:
            tenant = self.state.tenant(account)
            now = self.state.clock()
            return registry.authenticates(self.state, tenant, name, username, password, now)

    # -- managed PostgreSQL clusters and their users -------------------------------

    @staticmethod
    def databases_unavailable() -> str | None:
        """Why managed databases cannot run here (no PostgreSQL server), or None."""
        if server_bindir() is None:
            return (
                "no PostgreSQL server is installed (/usr/lib/postgresql/*/bin/initdb; "
                "the postgresql package brings it)"
            )
        return None

    def add_database_cluster(
        self,
        name: str = "demo-pg",
        *,
        server: PostgresCluster | None = None,
        account: str | None = None,
    ) -> str:
        """A managed PostgreSQL cluster on *server* (None: one the sandbox starts and stops).

        Returns the cluster id; RuntimeError when no PostgreSQL server can run.
        """
        if server is None:
            if self._own_postgres is None:
                bindir = server_bindir()
                if bindir is None:
                    raise RuntimeError(self.databases_unavailable())
                started = PostgresCluster(bindir)
                try:
                    started.start()
                except BaseException:
                    started.stop()
                    raise
                self._own_postgres = started
            server = self._own_postgres
        tenant = self.state.tenant(account)
        return str(databases.add_cluster(self.state, tenant, server, name)["id"])

    def stop_databases(self) -> None:
        """Stop the PostgreSQL server the sandbox started (if any); its clusters answer 503."""
        started, self._own_postgres = self._own_postgres, None
        if started is not None:
            with self.state.lock:
                for cluster_id, server in list(self.state.database_servers.items()):
                    if server is started:
                        del self.state.database_servers[cluster_id]
            started.stop()

    def add_database_user(
        self, cluster_id: str, name: str, *, account: str | None = None
    ) -> dict[str, Any]:
        """Create a user directly (a real ``CREATE ROLE``); returns it with its password."""
        try:
            return databases.create_user(self.state, self.state.tenant(account), cluster_id, name)
        except Problem as problem:
            raise ValueError(problem.message) from problem

    def database_users(
        self, cluster_id: str, *, account: str | None = None
    ) -> list[dict[str, Any]]:
        """Every user of the cluster, passwords included (the server's truth)."""
        with self.state.lock:
            return [dict(u) for u in databases.users(self.state.tenant(account), cluster_id)]

    def database_admin(self, cluster_id: str, *, account: str | None = None) -> dict[str, Any]:
        """How to log in as the cluster's admin: ``host``, ``port``, ``user``, ``password``,
        ``dbname`` (psycopg.connect keywords)."""
        with self.state.lock:
            tenant = self.state.tenant(account)
            item = databases.cluster(tenant, cluster_id)
            admin = next(u for u in databases.users(tenant, cluster_id) if u["role"] == "primary")
            connection = item["connection"]
            return {
                "host": connection["host"],
                "port": connection["port"],
                "user": admin["name"],
                "password": admin["password"],
                "dbname": connection["database"],
            }

    def database_login_works(
        self, cluster_id: str, user: str, password: str, *, account: str | None = None
    ) -> bool:
        """Whether *user* really logs in to the cluster's database with *password* now."""
        with self.state.lock:
            tenant = self.state.tenant(account)
            database = databases.cluster(tenant, cluster_id)["connection"]["database"]
            target = self.state.database_servers.get(cluster_id)
        if target is None:
            return False
        return databases.login_works(target, database, user, password)
