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

from rotator.sandbox.calls import Call, Problem, Reply, bad_request
from rotator.sandbox.deployments import iso
from rotator.sandbox.keyfamily import KeyFamily
from rotator.sandbox.state import State, Tenant

FAMILY = "function_keys"
NAMESPACES = "function_namespaces"
EXPIRES_IN = re.compile(r"([1-9][0-9]{0,5})([hd])")
KEY_LIMIT = 100
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
