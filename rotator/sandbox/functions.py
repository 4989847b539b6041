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
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from rotator.sandbox.calls import Call, Problem, Reply, bad_request, not_found
from rotator.sandbox.deployments import iso
from rotator.sandbox.state import State, Tenant

FAMILY = "function_keys"
NAMESPACES = "function_namespaces"
EXPIRES_IN = re.compile(r"([1-9][0-9]{0,5})([hd])")
KEY_LIMIT = 100
_PUBLIC = ("id", "name", "expires_at", "created_at", "updated_at")


def _namespace(tenant: Tenant, namespace: str) -> dict[str, Any]:
    for item in tenant.resources.get(NAMESPACES, []):
        if item.get("namespace") == namespace:
            return item
    raise Problem(404, "namespace not found")


def _keys(tenant: Tenant, namespace: str) -> list[dict[str, Any]]:
    return [k for k in tenant.resources.get(FAMILY, []) if k["namespace"] == namespace]


def public(key: dict[str, Any]) -> dict[str, Any]:
    """A key as listed: never its secret."""
    return {name: key[name] for name in _PUBLIC}


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
        _namespace(tenant, namespace)
        if not isinstance(name, str) or not name.strip():
            raise bad_request("Invalid request payload: missing name field")
        lifetime = lifetime_seconds(expires_in)
        if len(_keys(tenant, namespace)) >= KEY_LIMIT:
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
    for key in _keys(tenant, namespace):
        if key["id"] == key_id:
            expiry = key.get("expires_at_epoch")
            return secrets.compare_digest(key["secret"], secret) and (
                expiry is None or now < float(expiry)
            )
    return False


def _find(call: Call) -> dict[str, Any]:
    _namespace(call.tenant, call.params["namespace_id"])
    for key in _keys(call.tenant, call.params["namespace_id"]):
        if key["id"] == call.params["key_id"]:
            return key
    raise not_found()


def list_keys(call: Call) -> Reply:
    """``GET …/keys`` (function:admin) → ``{access_keys, count}``, no secrets."""
    with call.state.lock:
        _namespace(call.tenant, call.params["namespace_id"])
        keys = [public(k) for k in _keys(call.tenant, call.params["namespace_id"])]
    return Reply(200, {"access_keys": keys, "count": len(keys)})


def create(call: Call) -> Reply:
    """``POST …/keys`` (function:admin) → 201 with the secret, shown this once."""
    with call.state.lock:
        _namespace(call.tenant, call.params["namespace_id"])  # 404 before the body is read
    body = call.json()
    if not isinstance(body, dict):
        raise bad_request("Invalid request payload: missing name field")
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
        key = _find(call)
        body = call.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise bad_request("Invalid request payload: missing name field")
        key["name"], key["updated_at"] = name, iso(call.now)
        return Reply(200, {"access_key": public(key)})


def delete(call: Call) -> Reply:
    """``DELETE …/keys/{key_id}`` (function:admin) → 200 ``{}``."""
    with call.state.changing():
        key = _find(call)
        call.tenant.resources[FAMILY].remove(key)
        return Reply(200, {})


HANDLERS = {
    "functionsAccessKey_list": list_keys,
    "functionsAccessKey_create": create,
    "functionsAccessKey_update": update,
    "functionsAccessKey_delete": delete,
}
