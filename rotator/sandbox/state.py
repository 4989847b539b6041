"""Everything the sandbox remembers, behind one lock, optionally saved to a file.

The model is per account (a :class:`Tenant`): the account itself, its Spaces
keys, its apps and the generic resources the scope audit probes. Tokens are
global and point at their account; only their SHA-256 is kept.

Every mutation runs inside :meth:`State.changing`, which holds the lock and
then writes the state file atomically (temp file, fsync, ``os.replace``,
mode 0600), so a sandbox killed at any moment restarts from a whole state.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rotator.sandbox.deployments import Deployment, settle
from rotator.sandbox.tokens import TokenRecord

if TYPE_CHECKING:
    from rotator.sandbox.postgres import PostgresCluster

FORMAT_VERSION = 1


@dataclass
class Account:
    """A DigitalOcean account (user in a team) as ``GET /v2/account`` shows it."""

    uuid: str
    id: int
    email: str
    name: str
    team_uuid: str
    team_name: str
    status: str = "active"
    status_message: str = ""
    email_verified: bool = True
    droplet_limit: int = 25
    floating_ip_limit: int = 3
    reserved_ip_limit: int = 3
    volume_limit: int = 100


@dataclass
class SpacesKey:
    """A Spaces access key, secret included (the server's truth)."""

    access_key: str
    secret_key: str
    name: str
    grants: list[dict[str, str]]
    created_at: str


@dataclass
class App:
    """An App Platform app; specs hold plaintext env values, sealed only on output."""

    id: str
    spec: dict[str, Any]
    created_at: float
    updated_at: float
    default_ingress: str
    deployments: list[Deployment] = field(default_factory=list)
    active_deployment_id: str | None = None
    fail_next: str | None = None

    def settle(self, now: float) -> None:
        """Bring deployment phases and the active deployment up to ``now``."""
        self.active_deployment_id = settle(self.deployments, self.active_deployment_id, now)

    def deployment(self, deployment_id: str | None) -> Deployment | None:
        """The deployment with that id, if any."""
        return next((d for d in self.deployments if d.id == deployment_id), None)

    def running_deployment(self, now: float) -> Deployment | None:
        """The deployment still pending or in progress, if any (at most one)."""
        return next((d for d in reversed(self.deployments) if d.running(now)), None)

    def to_json(self) -> dict[str, Any]:
        """The record as stored in the state file."""
        return {
            "id": self.id,
            "spec": copy.deepcopy(self.spec),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "default_ingress": self.default_ingress,
            "deployments": [d.to_json() for d in self.deployments],
            "active_deployment_id": self.active_deployment_id,
            "fail_next": self.fail_next,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> App:
        """A record read back from the state file."""
        return cls(
            id=str(data["id"]),
            spec=dict(data["spec"]),
            created_at=float(data["created_at"]),
            updated_at=float(data["updated_at"]),
            default_ingress=str(data["default_ingress"]),
            deployments=[Deployment.from_json(d) for d in data["deployments"]],
            active_deployment_id=data.get("active_deployment_id"),
            fail_next=data.get("fail_next"),
        )


@dataclass
class Tenant:
    """One account and everything it owns."""

    account: Account
    spaces_keys: dict[str, SpacesKey] = field(default_factory=dict)
    apps: dict[str, App] = field(default_factory=dict)
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as stored in the state file."""
        return {
            "account": asdict(self.account),
            "spaces_keys": [asdict(k) for k in self.spaces_keys.values()],
            "apps": [a.to_json() for a in self.apps.values()],
            "resources": copy.deepcopy(self.resources),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tenant:
        """A record read back from the state file."""
        keys = [SpacesKey(**k) for k in data["spaces_keys"]]
        apps = [App.from_json(a) for a in data["apps"]]
        return cls(
            account=Account(**data["account"]),
            spaces_keys={k.access_key: k for k in keys},
            apps={a.id: a for a in apps},
            resources={str(k): list(v) for k, v in data["resources"].items()},
        )


class State:
    """The sandbox's memory: tenants, tokens and the key that seals env secrets."""

    def __init__(
        self, path: Path | None, clock: Callable[[], float], deployment_step_seconds: float = 0.2
    ) -> None:
        self.path = path
        self.clock = clock
        self.deployment_step_seconds = deployment_step_seconds
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.default_account = ""
        self.seal_key = secrets.token_bytes(32)
        # Runtime only (never saved): the real PostgreSQL behind each managed database
        # cluster (rotator.sandbox.databases); a reloaded state has none.
        self.database_servers: dict[str, PostgresCluster] = {}

    # -- locking and persistence ------------------------------------------------

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the lock for a mutation and save the state file afterwards."""
        with self.lock:
            yield
            self.save()

    def save(self) -> None:
        """Write the state file atomically with mode 0600 (no-op without a file)."""
        if self.path is None:
            return
        with self.lock:
            document = json.dumps(self.to_json(), indent=1, sort_keys=True)
            directory = self.path.parent
            directory.mkdir(parents=True, exist_ok=True)
            # mkstemp creates the file 0600, so the secrets are never world-readable.
            handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    stream.write(document)
                    stream.flush()
                    os.fsync(stream.fileno())
                Path(temporary).replace(self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    Path(temporary).unlink()
                raise

    def to_json(self, *, include_key: bool = True) -> dict[str, Any]:
        """The whole state as one JSON-ready document (apps settled first)."""
        with self.lock:
            now = self.clock()
            for tenant in self.tenants.values():
                for app in tenant.apps.values():
                    app.settle(now)
            document: dict[str, Any] = {
                "version": FORMAT_VERSION,
                "default_account": self.default_account,
                "tokens": [t.to_json() for t in self.tokens.values()],
                "tenants": [t.to_json() for t in self.tenants.values()],
            }
            if include_key:
                document["seal_key"] = self.seal_key.hex()
            return document

    def load(self, document: dict[str, Any]) -> None:
        """Replace the state with a document written by :meth:`to_json`."""
        if document.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported sandbox state version {document.get('version')!r}")
        with self.lock:
            self.seal_key = bytes.fromhex(document["seal_key"])
            self.default_account = str(document["default_account"])
            records = [TokenRecord.from_json(t) for t in document["tokens"]]
            self.tokens = {t.sha256: t for t in records}
            tenants = [Tenant.from_json(t) for t in document["tenants"]]
            self.tenants = {t.account.uuid: t for t in tenants}

    # -- accounts and tokens ----------------------------------------------------

    def new_account(self, account_uuid: str | None = None, *, email: str | None = None) -> Tenant:
        """Create an account (and its empty tenant); the first becomes the default."""
        with self.changing():
            account_uuid = account_uuid or secrets.token_hex(20)
            if account_uuid in self.tenants:
                return self.tenants[account_uuid]
            number = 100000 + len(self.tenants) + 1
            account = Account(
                uuid=account_uuid,
                id=number,
                email=email or f"sammy{len(self.tenants) + 1}@example.com",
                name="Sammy the Shark",
                team_uuid=secrets.token_hex(20),
                team_name="My Team",
            )
            tenant = Tenant(account)
            self.tenants[account_uuid] = tenant
            if not self.default_account:
                self.default_account = account_uuid
            return tenant

    def tenant(self, account_uuid: str | None = None) -> Tenant:
        """The tenant for an account (the default one when None)."""
        with self.lock:
            key = account_uuid or self.default_account
            if key not in self.tenants:
                raise KeyError(f"no sandbox account {key!r}")
            return self.tenants[key]

    def find_token(self, sha256: str) -> TokenRecord | None:
        """The token with that hash if it exists and still authenticates."""
        with self.lock:
            record = self.tokens.get(sha256)
            if record is None or not record.usable(self.clock()):
                return None
            return record
