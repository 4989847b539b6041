"""``kind = "database_user"``: the login of one user of a managed PostgreSQL cluster.

From the official spec (``resources/databases/``):

- ``GET /v2/databases/{id}`` (``database:read``) → ``{database: {engine,
  connection: {host, port, database, user, password, ssl, uri}}}``; the admin
  user and password in ``connection`` only with ``database:view_credentials``;
- ``GET …/users`` (``database:read``) → ``{users: [{name, role, password}]}``;
- ``POST …/users`` with ``{name}`` (``database:create``) → 201 ``{user}`` with
  its generated password (shown with ``database:view_credentials``);
- ``POST …/users/{name}/reset_auth`` with ``{}`` (``database:update``) → 200
  ``{user}`` with a new password: the old one stops working at once;
- ``DELETE …/users/{name}`` (``database:delete``) → 204; 404 when gone.

Two modes (policy key ``mode``):

``alternating`` (the default; zero downtime, as AWS does for RDS): rotator
keeps two users, ``<user>`` and ``<user>_alt``. A rotation creates whichever
of the two is absent, grants it the operator's ``grant_role`` over a real SQL
connection made with the admin credentials the API returns, proves the new
password by logging in with it (and checks the membership from that login),
pushes it, and after the grace period deletes the older user. Applications
therefore hold privileges through ``grant_role`` (owning objects through it
too), never as the login user itself. The grant happens in :meth:`verify`,
which runs before every push and resume: a process killed between the
create and the grant grants on resume (GRANT is idempotent).

``reset`` (for engines without roles): ``reset_auth`` on ``<user>`` in
place. The old password dies the moment the new one is made, so clients
fail until the sinks deliver the new one: **a gap**, said in the log at
every reset.

Policy keys: ``cluster`` (the cluster's UUID), ``user``, ``grant_role``
(alternating), ``mode``, ``database`` (default: the cluster's). Fields:
``username``, ``password``, ``host``, ``port``, ``database``, ``uri``. The
identifier is ``<user>#<fingerprint>`` (12 hex of the password's SHA-256):
user names come back, identifiers never do, so a revoke (or a replica that
lost its lease) deletes a user only while it holds the password rotator made.
Passwords go to the server as libpq keyword arguments inside this process,
never argv, never a log line or an error.

Why one module of this size: both modes, the two alternating users, the SQL
grant and the identifiers' password fingerprint are one contract with the
rotation machine, read together to check crash recovery.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import quote

import psycopg
from psycopg import sql

from rotator.credentials.base import Credential, CredentialKind, Current
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.failures import json_object
from rotator.digitalocean.identifiers import UUID, api_path, checked
from rotator.errors import CredentialCheckFailed, DigitalOceanError, NotFound, UsageError
from rotator.secret import Secret

log = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,58}")
"""A user or role name rotator handles (59 at most: ``_alt`` must still fit PostgreSQL's 63)."""
DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")
HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[?[0-9A-Fa-f:.]{2,45}\]?")
_PASSWORD = re.compile(r"[\x21-\x7e]{8,512}")
SUFFIX = "_alt"
MODES = ("alternating", "reset")
SQL_TIMEOUT_SECONDS = 10
SCOPES = {
    "alternating": frozenset(
        {"database:read", "database:create", "database:delete", "database:view_credentials"}
    ),
    "reset": frozenset({"database:read", "database:update", "database:view_credentials"}),
}
MARK = "#"
"""Identifiers are ``<user>#<12 hex of the password's SHA-256>``: one user name may come
back (alternating reuses two names; a reset keeps its name), the identifier never does,
so a revoke deletes a user only while it still has the password rotator made."""


def fingerprint(password: str) -> str:
    """12 hex digits of the password's SHA-256 (names a password publicly)."""
    return hashlib.sha256(password.encode()).hexdigest()[:12]


def identify(user: str, password: str) -> str:
    """The identifier of *user* holding *password*."""
    return f"{user}{MARK}{fingerprint(password)}"


def user_of(identifier: str) -> str:
    """The user name in an identifier."""
    return identifier.partition(MARK)[0]


class DatabaseUserKind(CredentialKind):
    """A managed PostgreSQL user: two alternating users, or a password reset in place."""

    kind: ClassVar[str] = "database_user"
    fields: ClassVar[tuple[str, ...]] = ("username", "password", "host", "port", "database", "uri")
    identifier_field: ClassVar[str | None] = None
    """The identifier is ``<user>#<fingerprint of its password>``, no field's value."""
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password", "uri"})
    option_keys: ClassVar[tuple[str, ...]] = ("cluster", "user", "grant_role", "mode", "database")
    required: ClassVar[tuple[str, ...]] = ("cluster", "user")
    noun: ClassVar[str] = "user"
    downtime: ClassVar[str] = (
        "alternating: none (the older user lives through the grace period); "
        "reset: a gap, the old password stops working at the reset"
    )

    def __init__(self, policy: str, options: Mapping[str, str], client: DigitalOceanClient) -> None:
        super().__init__(policy, options, client)
        self._successor_of: str | None = None
        # What template() read for the plan: the users present and the cluster itself.
        self._present: frozenset[str] = frozenset()
        self._seen: dict[str, Any] | None = None

    @classmethod
    def scopes(cls, options: Mapping[str, str]) -> frozenset[str]:
        return SCOPES[options.get("mode", "alternating")]

    @classmethod
    def check_options(cls, options: Mapping[str, str]) -> None:
        if not UUID.fullmatch(options.get("cluster", "")):
            raise ValueError("cluster must be the database cluster's UUID")
        if not NAME.fullmatch(options.get("user", "")):
            raise ValueError("user must be 1 to 59 of A-Z, a-z, 0-9, _ and -, not starting a digit")
        mode = options.get("mode", "alternating")
        if mode not in MODES:
            raise ValueError('mode must be "alternating" or "reset"')
        if mode == "alternating":
            if "grant_role" not in options:
                raise ValueError(
                    'mode "alternating" needs grant_role: the role holding the privileges '
                    "each of the two users is granted"
                )
            if not NAME.fullmatch(options["grant_role"]):
                raise ValueError("grant_role must be a role name (A-Z, a-z, 0-9, _ and -)")
        elif "grant_role" in options:
            raise ValueError('grant_role is for mode "alternating"; a reset keeps the user as is')
        if "database" in options and not DATABASE.fullmatch(options["database"]):
            raise ValueError("database must be a database name (A-Z, a-z, 0-9, _ and -)")

    # -- where things are --------------------------------------------------------

    @property
    def mode(self) -> str:
        return self.options.get("mode", "alternating")

    @property
    def pair(self) -> tuple[str, str]:
        """The two users alternating mode keeps."""
        user = self.options["user"]
        return user, user + SUFFIX

    def where(self) -> str:
        return f"database cluster {self.options['cluster']}"

    def _cluster(self) -> dict[str, Any]:
        path = api_path("/v2/databases/{}", self.options["cluster"])
        cluster = self._named(path, "database")
        if not isinstance(cluster, dict) or not isinstance(cluster.get("connection"), dict):
            raise DigitalOceanError(f"bad answer to GET {path}: no database connection")
        if cluster.get("engine") not in (None, "pg"):
            raise UsageError(
                f"{self.where()} runs {cluster.get('engine')!r}: database_user rotates "
                "PostgreSQL users only (see README, Credential kinds)"
            )
        return cluster

    def _endpoint(self, cluster: Mapping[str, Any]) -> tuple[str, int, str, bool]:
        """Host, port, database and TLS of the cluster's connection, each checked."""
        where = f"GET /v2/databases/{self.options['cluster']}"
        connection = cluster["connection"]
        host = checked(connection.get("host"), HOST, "the host", where)
        port = connection.get("port")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise DigitalOceanError(f"bad answer to {where}: the port is not a TCP port")
        database = self.options.get("database") or connection.get("database")
        if not isinstance(database, str) or not DATABASE.fullmatch(database):
            raise DigitalOceanError(f"bad answer to {where}: no database name")
        return host, port, database, connection.get("ssl") is not False

    def _users(self) -> dict[str, dict[str, Any]]:
        """The cluster's users by name, each with its password (``database:view_credentials``)."""
        path = api_path("/v2/databases/{}/users", self.options["cluster"])
        items = self.client.get_json(path).get("users")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise DigitalOceanError(f"bad answer to GET {path}: no list of users")
        users = {str(item.get("name")): item for item in items}
        if any(not isinstance(item.get("password"), str) for item in users.values()):
            raise DigitalOceanError(
                f"DigitalOcean shows no passwords in {self.where()}: the token needs "
                "database:view_credentials"
            )
        return users

    # -- the contract ------------------------------------------------------------

    def current(self) -> Current:
        users = self._users()
        user = self.options["user"]
        candidates = (user,) if self.mode == "reset" else self.pair
        present = [name for name in candidates if name in users]
        if not present:
            others = "" if self.mode == "reset" else f" (nor {user + SUFFIX!r})"
            raise UsageError(f"no user {user!r}{others} in {self.where()}")
        return Current(identify(present[0], users[present[0]]["password"]))

    def template(self, identifier: str) -> tuple[Mapping[str, str], ...]:
        self._seen = self._cluster()  # refuses another engine before anything is planned
        users = self._users()
        name = user_of(identifier)
        if name not in users:
            raise NotFound(404, f"no user {name} in {self.where()}")
        self._successor_of = name
        self._present = frozenset(users)
        return ()

    def _other(self, identifier: str) -> str:
        first, second = self.pair
        if identifier not in self.pair:
            raise UsageError(
                f"the current user {identifier!r} is neither {first!r} nor {second!r}: the "
                f"policy's user changed since rotator took {identifier!r} over; set it back"
            )
        return second if identifier == first else first

    def planned_name(self, rotation_id: str) -> str:
        if self.mode == "reset":
            return self.options["user"]
        if self._successor_of is None:
            return self._other(user_of(self.current().identifier))  # a dry run: no template
        successor = self._other(self._successor_of)
        if successor in self._present:
            # Never the case after a revoke (the rotation first deletes the previous
            # user); someone made it by hand, and deleting it as a crash's orphan could
            # break whoever uses it: stop before anything is planned.
            raise UsageError(
                f"user {successor!r} already exists in {self.where()}; rotator alternates "
                f"{' and '.join(self.pair)} and creates the absent one: drop {successor!r} "
                "if nothing uses it"
            )
        return successor

    def describe_create(self, name: str, identifier: str) -> str:
        if self.mode == "reset":
            return (
                f"reset the password of user {name} in place ({self.where()}): the old "
                "password stops working at once, a gap until every sink has the new one"
            )
        current = user_of(identifier)
        other = self._other(current) if current in self.pair else name
        return (
            f"create user {other} ({self.where()}), grant it {self.options['grant_role']} and "
            "log in with its password"
        )

    def create(self, name: str, template: tuple[Mapping[str, str], ...]) -> Credential:
        cluster = self._seen or self._cluster()  # the plan's read, when this process made it
        host, port, database, tls = self._endpoint(cluster)
        if self.mode == "reset":
            path = api_path("/v2/databases/{}/users/{}/reset_auth", self.options["cluster"], name)
            log.warning(
                "policy %s: resetting the password of database user %s in place: clients "
                "holding the old password fail until every sink has delivered the new one "
                '(a gap; mode = "alternating" has none)',
                self.policy,
                name,
                extra={"policy": self.policy},
            )
            response = self.client.request("POST", path, idempotent=False, json={})
        else:
            path = api_path("/v2/databases/{}/users", self.options["cluster"])
            response = self.client.request("POST", path, idempotent=False, json={"name": name})
        answer = json_object(response, "POST", path).get("user")
        if not isinstance(answer, dict) or answer.get("name") != name:
            raise DigitalOceanError(f"bad answer to POST {path}: not the user {name}")
        password = answer.get("password")
        if not isinstance(password, str):
            raise DigitalOceanError(
                f"DigitalOcean sent no password for user {name}: the token needs "
                "database:view_credentials"
            )
        if not _PASSWORD.fullmatch(password):
            raise DigitalOceanError(f"bad answer to POST {path}: the password is not one word")
        identifier = identify(name, password)
        uri = (
            f"postgresql://{quote(name, safe='')}:{quote(password, safe='')}@{host}:{port}/"
            f"{quote(database, safe='')}?sslmode={'require' if tls else 'disable'}"
        )
        return Credential(
            identifier,
            {
                "username": name,
                "password": Secret(password),
                "host": host,
                "port": str(port),
                "database": database,
                "uri": Secret(uri),
            },
            None,
        )

    def find(self, name: str) -> list[str]:
        if self.mode == "reset":
            return []  # nothing to clean: a lost reset is made good by the next one
        users = self._users()
        return [identify(name, users[name]["password"])] if name in users else []

    def verify(self, credential: Credential) -> None:
        """Grant ``grant_role`` (alternating) as the admin, then log in with the new password.

        Runs before every push and on every resume: GRANT is idempotent, so a
        process killed between the create and the grant grants now.
        """
        values = credential.fields()
        user, password = str(values["username"]), values["password"]
        assert isinstance(password, Secret)
        host, port, database = (
            str(values["host"]),
            int(str(values["port"])),
            str(values["database"]),
        )
        uri = values["uri"]
        # The URI says what the cluster's connection said about TLS (create wrote it).
        plain = (uri.reveal() if isinstance(uri, Secret) else uri).endswith("sslmode=disable")
        sslmode = "disable" if plain else "require"
        if self.mode == "alternating":
            role = self.options["grant_role"]
            admin_user, admin_password = self._admin()
            with self._sql(host, port, database, admin_user, admin_password, sslmode) as admin:
                admin.execute(
                    sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(user))
                )
        with self._sql(host, port, database, user, password, sslmode) as login:
            row = login.execute("SELECT current_user").fetchone()
            if row is None or row[0] != user:
                raise CredentialCheckFailed(f"logging in as {user} did not make {user} current")
            if self.mode == "alternating":
                role = self.options["grant_role"]
                member = login.execute(
                    "SELECT pg_has_role(current_user, %s, 'MEMBER')", (role,)
                ).fetchone()
                if member is None or member[0] is not True:
                    raise CredentialCheckFailed(f"user {user} is not a member of {role}")
        log.info(
            "policy %s: logged in as database user %s with the new password%s",
            self.policy,
            user,
            f" (member of {self.options['grant_role']})" if self.mode == "alternating" else "",
            extra={"policy": self.policy},
        )

    def _admin(self) -> tuple[str, Secret]:
        cluster = self._cluster()
        connection = cluster["connection"]
        user, password = connection.get("user"), connection.get("password")
        if not isinstance(user, str) or not isinstance(password, str) or not password:
            raise DigitalOceanError(
                f"DigitalOcean sent no admin credentials for {self.where()}: the token needs "
                "database:view_credentials"
            )
        checked(user, NAME, "the admin user", f"GET /v2/databases/{self.options['cluster']}")
        return user, Secret(password)

    @contextmanager
    def _sql(
        self, host: str, port: int, database: str, user: str, password: Secret, sslmode: str
    ) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A connection as *user*; every failure a CredentialCheckFailed without the password."""
        secret = password.reveal()
        try:
            with psycopg.connect(
                host=host,
                port=port,
                dbname=database,
                user=user,
                password=secret,
                sslmode=sslmode,
                connect_timeout=SQL_TIMEOUT_SECONDS,
                options=f"-c statement_timeout={SQL_TIMEOUT_SECONDS * 1000}",
                autocommit=True,
            ) as connection:
                yield connection
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            message = message.replace(secret, "[redacted]")
            raise CredentialCheckFailed(
                f"{self.where()}: as {user} on {host}:{port}/{database}: {message}",
                transient=isinstance(exc, psycopg.OperationalError),
            ) from None

    def revoke(self, identifier: str, credential: Credential | None = None) -> bool:
        """Delete the user while it still has the password *identifier* names.

        Reset mode deletes nothing (the old password died at the reset). A user
        of the same name with another password is another rotation's (a
        successor's after a lost lease): left alone, reported as gone.
        """
        name = user_of(identifier)
        if self.mode == "reset" or name not in self.pair:
            return True
        user = self._users().get(name)
        if user is None:
            return False
        if identify(name, user["password"]) != identifier:
            log.info(
                "policy %s: database user %s now has another password (another rotation's): "
                "left alone",
                self.policy,
                name,
                extra={"policy": self.policy},
            )
            return False
        path = api_path("/v2/databases/{}/users/{}", self.options["cluster"], name)
        try:
            self.client.request("DELETE", path)
        except NotFound:
            return False
        return True
