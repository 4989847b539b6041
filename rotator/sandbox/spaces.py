"""Spaces access keys: ``/v2/spaces/keys`` and ``/v2/spaces/keys/{access_key}``.

Rules taken from the official spec and docs: create needs
``spaces_key:create_credentials`` and answers 201 with the secret, the only
time it is shown; grants are ``{bucket, permission}`` with permission
``read``, ``readwrite`` or ``fullaccess``; full access is exactly
``{"bucket": "", "permission": "fullaccess"}`` and cannot be mixed with
scoped grants (the spec documents 400 ``bad_request`` for that case); an
empty grant list is allowed (the spec's "No Grant Key" example); an update
can only rename; delete answers 204.
"""

from __future__ import annotations

import base64
import secrets
import string
from typing import Any

from rotator.sandbox.calls import Call, Reply, bad_request, not_found, unprocessable
from rotator.sandbox.deployments import iso
from rotator.sandbox.pagination import paginate
from rotator.sandbox.state import SpacesKey, State, Tenant

KEY_LIMIT = 200
PERMISSIONS = ("read", "readwrite", "fullaccess")
_ALPHABET = string.ascii_uppercase + string.digits


def new_access_key() -> str:
    """An access key id shaped like DigitalOcean's: ``DO`` + 18 uppercase alphanumerics."""
    return "DO" + "".join(secrets.choice(_ALPHABET) for _ in range(18))


def new_secret_key() -> str:
    """A secret shaped like DigitalOcean's: 43 characters of the base64 alphabet."""
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def validate_grants(grants: Any) -> list[dict[str, str]]:
    """The grants as stored, or a 422/400 Problem saying what is wrong."""
    if not isinstance(grants, list):
        raise unprocessable("grants must be a list of {bucket, permission} objects.")
    cleaned: list[dict[str, str]] = []
    for index, grant in enumerate(grants):
        if not isinstance(grant, dict):
            raise unprocessable(f"grants[{index}] must be an object.")
        bucket, permission = grant.get("bucket"), grant.get("permission")
        if not isinstance(bucket, str) or not isinstance(permission, str):
            raise unprocessable(f"grants[{index}] needs a string bucket and permission.")
        if permission not in PERMISSIONS:
            raise unprocessable(
                f"grants[{index}].permission must be one of {', '.join(PERMISSIONS)}."
            )
        if permission == "fullaccess" and bucket != "":
            raise unprocessable('fullaccess is granted with an empty bucket: {"bucket": ""}.')
        if permission != "fullaccess" and bucket == "":
            raise unprocessable(f"grants[{index}] needs a bucket for {permission} permission.")
        cleaned.append({"bucket": bucket, "permission": permission})
    permissions = {g["permission"] for g in cleaned}
    if "fullaccess" in permissions and len(cleaned) > 1:
        raise bad_request("cannot mix fullaccess permission with scoped permissions.")
    return cleaned


def validate_name(name: Any) -> str:
    """The key name, or a 422 Problem."""
    if not isinstance(name, str) or not name.strip():
        raise unprocessable("name is required and must be a non-empty string.")
    return name


def create_key(state: State, tenant: Tenant, name: str, grants: list[dict[str, str]]) -> SpacesKey:
    """Store a new key for the tenant (the caller has validated name and grants)."""
    with state.changing():
        if len(tenant.spaces_keys) >= KEY_LIMIT:
            raise unprocessable(f"You have reached the limit of {KEY_LIMIT} Spaces access keys.")
        key = SpacesKey(
            access_key=new_access_key(),
            secret_key=new_secret_key(),
            name=name,
            grants=[dict(g) for g in grants],
            created_at=iso(state.clock()),
        )
        tenant.spaces_keys[key.access_key] = key
        return key


def public(key: SpacesKey) -> dict[str, Any]:
    """A key as the API shows it after creation: no secret."""
    return {
        "name": key.name,
        "access_key": key.access_key,
        "grants": [dict(g) for g in key.grants],
        "created_at": key.created_at,
    }


def list_keys(call: Call) -> Reply:
    """``GET /v2/spaces/keys`` (spaces_key:read): filter by name/bucket/permission, sort."""
    sort = call.arg("sort") or "created_at"
    direction = call.arg("sort_direction") or "desc"
    if sort not in ("created_at", "name"):
        raise bad_request("sort must be created_at or name.")
    if direction not in ("asc", "desc"):
        raise bad_request("sort_direction must be asc or desc.")
    name, bucket, permission = call.arg("name"), call.arg("bucket"), call.arg("permission")
    with call.state.lock:
        # Creation order breaks ties, so equal timestamps keep a stable order.
        keys = list(call.tenant.spaces_keys.values())
    if direction == "desc":
        keys.reverse()
    keys.sort(key=lambda k: k.name if sort == "name" else k.created_at, reverse=direction == "desc")
    if name is not None:
        keys = [k for k in keys if k.name == name]
    if bucket is not None:
        keys = [k for k in keys if any(g["bucket"] == bucket for g in k.grants)]
    if permission is not None:
        keys = [k for k in keys if any(g["permission"] == permission for g in k.grants)]
    return Reply(200, paginate(call, "keys", [public(k) for k in keys]))


def create(call: Call) -> Reply:
    """``POST /v2/spaces/keys`` (spaces_key:create_credentials) → 201 with ``secret_key``."""
    body = call.json_object()
    name = validate_name(body.get("name"))
    if "grants" not in body:
        raise unprocessable("grants is required (use [] for a key without grants).")
    grants = validate_grants(body["grants"])
    key = create_key(call.state, call.tenant, name, grants)
    return Reply(201, {"key": {**public(key), "secret_key": key.secret_key}})


def _find(call: Call) -> SpacesKey:
    key = call.tenant.spaces_keys.get(call.params["access_key"])
    if key is None:
        raise not_found()
    return key


def get(call: Call) -> Reply:
    """``GET /v2/spaces/keys/{access_key}`` (spaces_key:read) → ``{"key": ...}``, no secret."""
    with call.state.lock:
        return Reply(200, {"key": public(_find(call))})


def update(call: Call) -> Reply:
    """``PUT|PATCH /v2/spaces/keys/{access_key}`` (spaces_key:update): rename only."""
    with call.state.changing():
        key = _find(call)
        body = call.json_object()
        name = validate_name(body.get("name"))
        if "grants" in body and validate_grants(body["grants"]) != key.grants:
            raise unprocessable("Only the name of a Spaces access key can be updated.")
        key.name = name
        return Reply(200, {"key": public(key)})


def delete(call: Call) -> Reply:
    """``DELETE /v2/spaces/keys/{access_key}`` (spaces_key:delete) → 204."""
    with call.state.changing():
        key = _find(call)
        del call.tenant.spaces_keys[key.access_key]
        return Reply(204)


HANDLERS = {
    "spacesKey_list": list_keys,
    "spacesKey_create": create,
    "spacesKey_get": get,
    "spacesKey_update": update,
    "spacesKey_patch": update,
    "spacesKey_delete": delete,
}
