"""Container registry Docker credentials: ``GET /v2/registries/{name}/docker-credentials``.

Rules taken from the official spec (``registries_get_dockerCredentials.yml``
and ``parameters.yml``): the operation lists ``registry:read`` and
``registry:update``; every call mints new credentials (read-only unless
``read_write=true``) and answers ``{auths: {registry.digitalocean.com:
{auth}}}``, ``auth`` being base64 of ``user:password`` (both halves the
credential's own token, as DigitalOcean's are); ``expiry_seconds`` (0 or
absent: never) bounds their life. An unknown registry is 404. Nothing in the
API lists or deletes minted credentials; they stop working when they expire,
or when their token is revoked through ``POST /v1/oauth/revoke`` (doctl's
``registry logout``): each minted token is one of the sandbox's tokens,
scoped to the registry (``registry:read``, plus ``registry:update`` for
read-write credentials).

The registry's own host is modelled as far as a login goes (Docker Registry
HTTP API V2, token authentication; served on the sandbox's address, which
``ROTATOR_DO_REGISTRY_URL`` points at): ``GET /v2/`` answers 401 with a
``Bearer`` challenge naming the realm ``/v2/registry/auth``, and the realm
answers 200 and a short-lived token to live credentials sent as HTTP Basic,
401 otherwise. It stores no images.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from rotator.sandbox.calls import Call, Problem, Reply, bad_request, basic_credentials
from rotator.sandbox.state import State, Tenant
from rotator.sandbox.tokens import TokenRecord, token_hash

FAMILY = "registry_credentials"
HOST = "registry.digitalocean.com"


def _registry(tenant: Tenant, name: str) -> dict[str, Any]:
    for item in tenant.resources.get("registries", []):
        if item.get("name") == name:
            return item
    raise Problem(404, "registry not found")


def credentials(call: Call) -> Reply:
    """``GET …/docker-credentials`` (registry:read|registry:update) → a Docker config.json."""
    raw = call.arg("expiry_seconds") or "0"
    if not raw.isdigit():
        raise bad_request("expiry_seconds must be a non-negative integer.")
    read_write = (call.arg("read_write") or "false").lower()
    if read_write not in ("true", "false"):
        raise bad_request("read_write must be true or false.")
    minted = mint(
        call.state, call.tenant, call.params["registry_name"], read_write == "true", int(raw)
    )
    return Reply(200, docker_config(minted))


def mint(state: State, tenant: Tenant, name: str, read_write: bool, expiry: int) -> dict[str, Any]:
    """New credentials for registry *name* (404 Problem when it does not exist)."""
    with state.changing():
        _registry(tenant, name)
        token = "dop_v1_" + secrets.token_hex(32)
        now = state.clock()
        sha = token_hash(token)
        state.tokens[sha] = TokenRecord(
            sha256=sha,
            kind="personal",
            scopes=["registry:read", "registry:update"] if read_write else ["registry:read"],
            account=tenant.account.uuid,
            name=f"registry {name}",
            created_at=now,
            expires_at=now + expiry if expiry else None,
        )
        record = {
            "registry": name,
            "id": "docr-" + hashlib.sha256(token.encode()).hexdigest()[:12],
            "username": token,
            "password": token,
            "read_write": read_write,
            "expires_at_epoch": state.clock() + expiry if expiry else None,
        }
        tenant.resources.setdefault(FAMILY, []).append(record)
        return dict(record)


def docker_config(record: dict[str, Any]) -> dict[str, Any]:
    """The Docker ``config.json`` that carries *record*."""
    auth = base64.b64encode(f"{record['username']}:{record['password']}".encode()).decode()
    return {"auths": {HOST: {"auth": auth}}}


def live(state: State, tenant: Tenant, name: str, now: float) -> list[dict[str, Any]]:
    """The registry's credentials that still work at *now*: not expired, not revoked."""
    found = []
    for c in tenant.resources.get(FAMILY, []):
        token = state.tokens.get(token_hash(c["password"]))
        if c["registry"] == name and token is not None and token.usable(now):
            found.append(dict(c))
    return found


def authenticates(
    state: State, tenant: Tenant, name: str, username: str, password: str, now: float
) -> bool:
    """Whether a Docker login with these credentials works now."""
    return any(
        secrets.compare_digest(c["username"], username)
        and secrets.compare_digest(c["password"], password)
        for c in live(state, tenant, name, now)
    )


PING = "/v2/"
REALM = "/v2/registry/auth"
HOST_PATHS = frozenset({PING, REALM})
"""The paths of the registry's own host (answered before the API's token check)."""


def _unauthorized(challenge: str) -> Reply:
    errors = [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": None}]
    return Reply(401, {"errors": errors}, {"www-authenticate": challenge})


def registry_host(
    state: State, method: str, path: str, headers: Mapping[str, str], base_url: str
) -> Reply:
    """``GET /v2/`` (the version check: a challenge) and ``GET /v2/registry/auth`` (the login)."""
    if method != "GET":
        return Reply(405, {"errors": [{"code": "UNSUPPORTED", "message": "method not allowed"}]})
    if path == PING:
        return _unauthorized(f'Bearer realm="{base_url}{REALM}",service="{HOST}"')
    username, password = basic_credentials(headers)
    if not _logs_in(state, username, password):
        return _unauthorized(f'Basic realm="{HOST}"')
    token = secrets.token_urlsafe(32)
    return Reply(200, {"token": token, "access_token": token, "expires_in": 300})


def _logs_in(state: State, username: str, password: str) -> bool:
    if not password:
        return False
    token = state.find_token(token_hash(password))
    if token is None:
        return False
    with state.lock:
        tenant = state.tenant(token.account)
        names = {c["registry"] for c in tenant.resources.get(FAMILY, [])}
        now = state.clock()
        return any(authenticates(state, tenant, name, username, password, now) for name in names)


HANDLERS = {"registries_get_dockerCredentials": credentials}
