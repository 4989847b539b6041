"""GenAI agent API keys: ``/v2/gen-ai/agents/{agent_uuid}/api_keys``.

Rules taken from the official spec (``resources/gen-ai/genai_*_agent_api_key*.yml``
and ``definitions.yml``): list needs ``genai:read`` and answers
``{api_key_infos, links, meta}`` (paged, never a secret); create needs
``genai:create``, takes ``{agent_uuid, name}`` and answers **200**
``{api_key_info: {uuid, name, secret_key, created_at, created_by}}``, the
only answer carrying the secret; update (PUT) needs ``genai:update`` and
renames; delete needs ``genai:delete`` and answers 200 with the key's info
and its ``deleted_at``. An unknown agent or key is 404.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from rotator.sandbox.calls import Call, Reply, bad_request
from rotator.sandbox.deployments import iso
from rotator.sandbox.keyfamily import KeyFamily
from rotator.sandbox.pagination import paginate
from rotator.sandbox.state import State, Tenant

AGENTS = "genai_agents"
FAMILY = "genai_agent_keys"
KEYS = KeyFamily(
    family=FAMILY,
    parents=AGENTS,
    parent_id="uuid",
    key_parent="agent_uuid",
    key_id="uuid",
    public_fields=("uuid", "name", "created_at", "created_by"),
    no_parent="agent not found",
    no_name="name is required.",
)
public = KEYS.public


def add_agent(state: State, tenant: Tenant, name: str) -> dict[str, Any]:
    """Store an agent (the sandbox models only what its keys need)."""
    with state.changing():
        now = iso(state.clock())
        agent = {
            "uuid": str(uuid.uuid4()),
            "name": name,
            "region": "tor1",
            "created_at": now,
            "updated_at": now,
        }
        tenant.resources.setdefault(AGENTS, []).append(agent)
        return dict(agent)


def create_key(state: State, tenant: Tenant, agent_uuid: str, name: Any) -> dict[str, Any]:
    """Store a new key (secret included) for the agent; Problems as the API answers them."""
    with state.changing():
        KEYS.parent(tenant, agent_uuid)
        name = KEYS.name(name)
        key = {
            "agent_uuid": agent_uuid,
            "uuid": str(uuid.uuid4()),
            "name": name,
            "secret_key": "sk-do-" + secrets.token_urlsafe(32),
            "created_at": iso(state.clock()),
            "created_by": str(tenant.account.id),
        }
        tenant.resources.setdefault(FAMILY, []).append(key)
        return dict(key)


def authenticates(tenant: Tenant, agent_uuid: str, secret: str) -> bool:
    """Whether *secret* is a live API key of the agent."""
    return any(
        secrets.compare_digest(key["secret_key"], secret) for key in KEYS.keys(tenant, agent_uuid)
    )


def list_keys(call: Call) -> Reply:
    """``GET …/api_keys`` (genai:read) → ``{api_key_infos, links, meta}``, no secrets."""
    keys = KEYS.listed(call, "agent_uuid")
    return Reply(200, paginate(call, "api_key_infos", keys))


def create(call: Call) -> Reply:
    """``POST …/api_keys`` (genai:create) → 200 with ``secret_key``, shown this once."""
    body = KEYS.creation(call, "agent_uuid")
    agent_uuid = call.params["agent_uuid"]
    if body.get("agent_uuid") not in (None, agent_uuid):
        raise bad_request("agent_uuid in the body does not match the path.")
    key = create_key(call.state, call.tenant, agent_uuid, body.get("name"))
    return Reply(200, {"api_key_info": {**public(key), "secret_key": key["secret_key"]}})


def update(call: Call) -> Reply:
    """``PUT …/api_keys/{api_key_uuid}`` (genai:update): rename only."""
    with call.state.changing():
        key = KEYS.find(call, "agent_uuid", "api_key_uuid")
        key["name"] = KEYS.body_name(call)
        return Reply(200, {"api_key_info": public(key)})


def delete(call: Call) -> Reply:
    """``DELETE …/api_keys/{api_key_uuid}`` (genai:delete) → 200 with ``deleted_at``."""
    with call.state.changing():
        key = KEYS.find(call, "agent_uuid", "api_key_uuid")
        call.tenant.resources[FAMILY].remove(key)
        return Reply(200, {"api_key_info": {**public(key), "deleted_at": iso(call.now)}})


HANDLERS = {
    "genai_list_agent_api_keys": list_keys,
    "genai_create_agent_api_key": create,
    "genai_update_agent_api_key": update,
    "genai_delete_agent_api_key": delete,
}
