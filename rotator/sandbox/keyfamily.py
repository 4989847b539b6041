"""API keys that live under one parent resource: a Functions namespace, a GenAI agent.

Both families answer alike: the parent is looked up first (404 with the
API's own words when absent), a key is found by its id among the parent's
keys (404 otherwise), a listed key never shows its secret, and a key's name
must be a non-empty string (400 with the API's own words). Each family's
module keeps its routes, bodies and secrets; :class:`KeyFamily` holds that
shared bookkeeping once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rotator.sandbox.calls import Call, Problem, bad_request, not_found
from rotator.sandbox.state import Tenant


@dataclass(frozen=True)
class KeyFamily:
    """Where a family's keys and parents are stored, and how the API words their errors."""

    family: str  # tenant.resources entry holding the keys
    parents: str  # tenant.resources entry holding the parents
    parent_id: str  # the parent's own id field
    key_parent: str  # the key's field naming its parent
    key_id: str  # the key's own id field
    public_fields: tuple[str, ...]  # what a listing shows (never the secret)
    no_parent: str  # the 404 message for an unknown parent
    no_name: str  # the 400 message for a missing or empty name

    def parent(self, tenant: Tenant, parent: str) -> dict[str, Any]:
        """The parent, or the API's 404."""
        for item in tenant.resources.get(self.parents, []):
            if item.get(self.parent_id) == parent:
                return item
        raise Problem(404, self.no_parent)

    def keys(self, tenant: Tenant, parent: str) -> list[dict[str, Any]]:
        """Every key of the parent, secrets included (the server's truth)."""
        return [k for k in tenant.resources.get(self.family, []) if k[self.key_parent] == parent]

    def public(self, key: dict[str, Any]) -> dict[str, Any]:
        """A key as listed: never its secret."""
        return {name: key[name] for name in self.public_fields}

    def listed(self, call: Call, parent_param: str) -> list[dict[str, Any]]:
        """The keys of the parent the call's path names, as listed (its parent checked first)."""
        with call.state.lock:
            self.parent(call.tenant, call.params[parent_param])
            return [self.public(k) for k in self.keys(call.tenant, call.params[parent_param])]

    def creation(self, call: Call, parent_param: str) -> dict[str, Any]:
        """A create call's JSON object; the parent is checked (404) before the body is read."""
        with call.state.lock:
            self.parent(call.tenant, call.params[parent_param])
        body = call.json()
        if not isinstance(body, dict):
            raise bad_request(self.no_name)
        return body

    def find(self, call: Call, parent_param: str, key_param: str) -> dict[str, Any]:
        """The key the call's path names (its parent checked first), or a 404."""
        parent = call.params[parent_param]
        self.parent(call.tenant, parent)
        for key in self.keys(call.tenant, parent):
            if key[self.key_id] == call.params[key_param]:
                return key
        raise not_found()

    def name(self, value: Any) -> str:
        """A key's name from a request body, or the API's 400."""
        if not isinstance(value, str) or not value.strip():
            raise bad_request(self.no_name)
        return value

    def body_name(self, call: Call) -> str:
        """The ``name`` of the call's JSON body, or the API's 400."""
        body = call.json()
        return self.name(body.get("name") if isinstance(body, dict) else None)
