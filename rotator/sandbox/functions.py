"""Serverless Functions namespace access keys: ``/v2/functions/namespaces/{ns}/keys``.

Rules taken from the official spec (``resources/functions/functions_*_key.yml``):
every call needs ``function:admin``; create takes ``{name, expires_in?}``
(``<int>h`` or ``<int>d``, at least ``1h``; absent: never expires) and
answers 201 ``{access_key: {id, name, secret, expires_at, created_at,
updated_at}}``, the only time the secret is shown; ids are ``dof_v1_`` and
32 hex digits; list answers ``{access_keys, count}`` without secrets and
without paging; update (PUT) renames; delete answers 200 ``{}``. An unknown
namespace or key is 404, a body without a name 400. A key past its
``expires_at`` stays listed but no longer authenticates.

A namespace's API host (its ``api_host``: the sandbox's own address once it
listens) answers what a key check needs of Apache OpenWhisk's REST API:
``GET /api/v1/namespaces/{namespace}/actions`` (``_``: the key's own
namespace) with the key as HTTP Basic (``key_id:secret``) → 200 and the
namespace's actions (none here), 401 for a key that does not authenticate,
403 for another namespace's.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from rotator.sandbox.calls import Call, Problem, Reply, bad_request, basic_credentials
from rotator.sandbox.deployments import iso
from rotator.sandbox.keyfamily import KeyFamily
from rotator.sandbox.state import State, Tenant

FAMILY = "function_keys"
NAMESPACES = "function_namespaces"
EXPIRES_IN = re.compile(r"([1-9][0-9]{0,5})([hd])")
KEY_LIMIT = 100
ACTIONS = re.compile(r"/api/v1/namespaces/([^/]+)/actions")
"""The one OpenWhisk path a namespace's API host answers here."""
KEYS = KeyFamily(
    family=FAMILY,
    parents=NAMESPACES,
    parent_id="namespace",
    key_parent="namespace",
    key_id="id",
    public_fields=("id", "name", "expires_at", "created_at", "updated_at"),
    no_parent="namespace not found",
    no_name="Invalid request payload: missing name field",
)
public = KEYS.public


def lifetime_seconds(expires_in: Any) -> int | None:
    """``expires_in`` in seconds (None: never expires), or a 400 Problem."""
    if expires_in is None:
        return None
    match = EXPIRES_IN.fullmatch(expires_in) if isinstance(expires_in, str) else None
    if match is None:
        raise bad_request("expires_in must be <int>h or <int>d, at least 1h.")
    count, unit = int(match.group(1)), match.group(2)
    return count * (3600 if unit == "h" else 86400)


def create_key(
    state: State, tenant: Tenant, namespace: str, name: Any, expires_in: Any = None
) -> dict[str, Any]:
    """Store a new key (secret included) in *namespace*; Problems as the API answers them."""
    with state.changing():
        KEYS.parent(tenant, namespace)
        name = KEYS.name(name)
        lifetime = lifetime_seconds(expires_in)
        if len(KEYS.keys(tenant, namespace)) >= KEY_LIMIT:
            raise Problem(409, f"a namespace holds at most {KEY_LIMIT} access keys")
        now = state.clock()
        key = {
            "namespace": namespace,
            "id": "dof_v1_" + secrets.token_hex(16),
            "name": name,
            "secret": "dof_secret_" + secrets.token_urlsafe(30),
            "expires_at": None if lifetime is None else iso(now + lifetime),
            "expires_at_epoch": None if lifetime is None else now + lifetime,
            "created_at": iso(now),
            "updated_at": iso(now),
        }
        tenant.resources.setdefault(FAMILY, []).append(key)
        return dict(key)


def authenticates(tenant: Tenant, namespace: str, key_id: str, secret: str, now: float) -> bool:
    """Whether *key_id* with *secret* opens *namespace* now (exists, matches, not expired)."""
    for key in KEYS.keys(tenant, namespace):
        if key["id"] == key_id:
            expiry = key.get("expires_at_epoch")
            return secrets.compare_digest(key["secret"], secret) and (
                expiry is None or now < float(expiry)
            )
    return False


def api_host(state: State, method: str, path: str, headers: Mapping[str, str]) -> Reply:
    """``GET /api/v1/namespaces/{namespace}/actions`` on a namespace's API host (OpenWhisk)."""
    match = ACTIONS.fullmatch(path)
    if match is None:
        return Reply(404, {"error": "The requested resource does not exist.", "code": "404"})
    if method != "GET":
        return Reply(405, {"error": "Method not allowed.", "code": "405"})
    key_id, secret = basic_credentials(headers)
    with state.lock:
        now = state.clock()
        for tenant in state.tenants.values():
            for key in tenant.resources.get(FAMILY, []):
                if key["id"] != key_id or not authenticates(
                    tenant, key["namespace"], key_id, secret, now
                ):
                    continue
                if match.group(1) not in ("_", key["namespace"]):
                    return Reply(
                        403,
                        {
                            "error": "The supplied authentication is not authorized "
                            "to access this resource.",
                            "code": "403",
                        },
                    )
                return Reply(200, [])
    return Reply(401, {"error": "The supplied authentication is invalid", "code": "401"})


def list_keys(call: Call) -> Reply:
    """``GET …/keys`` (function:admin) → ``{access_keys, count}``, no secrets."""
    keys = KEYS.listed(call, "namespace_id")
    return Reply(200, {"access_keys": keys, "count": len(keys)})


def create(call: Call) -> Reply:
    """``POST …/keys`` (function:admin) → 201 with the secret, shown this once."""
    body = KEYS.creation(call, "namespace_id")
    key = create_key(
        call.state,
        call.tenant,
        call.params["namespace_id"],
        body.get("name"),
        body.get("expires_in"),
    )
    return Reply(201, {"access_key": {**public(key), "secret": key["secret"]}})


def update(call: Call) -> Reply:
    """``PUT …/keys/{key_id}`` (function:admin): rename only."""
    with call.state.changing():
        key = KEYS.find(call, "namespace_id", "key_id")
        key["name"], key["updated_at"] = KEYS.body_name(call), iso(call.now)
        return Reply(200, {"access_key": public(key)})


def delete(call: Call) -> Reply:
    """``DELETE …/keys/{key_id}`` (function:admin) → 200 ``{}``."""
    with call.state.changing():
        key = KEYS.find(call, "namespace_id", "key_id")
        call.tenant.resources[FAMILY].remove(key)
        return Reply(200, {})


HANDLERS = {
    "functionsAccessKey_list": list_keys,
    "functionsAccessKey_create": create,
    "functionsAccessKey_update": update,
    "functionsAccessKey_delete": delete,
}
