"""``kind = "genai_agent_key"``: an API key of one GenAI (Gradient) agent.

From the official spec (``resources/gen-ai/genai_*_agent_api_key*.yml``):

- ``GET /v2/gen-ai/agents/{agent}/api_keys`` (``genai:read``) →
  ``{api_key_infos, links, meta}``, paged, never a secret;
- ``POST …/api_keys`` with ``{agent_uuid, name}`` (``genai:create``) → 200
  ``{api_key_info: {uuid, name, secret_key, created_at, …}}``: the secret is
  in this answer only;
- ``DELETE …/api_keys/{api_key_uuid}`` (``genai:delete``) → 200
  ``{api_key_info: {…, deleted_at}}``; 404 when it is gone.

Policy keys: ``agent`` (the agent's UUID) and ``key`` (the UUID or unique
name of the key rotator takes over). Field: ``api_key``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from rotator.credentials.base import Credential, CredentialKind, Current, parse_time
from rotator.digitalocean.failures import json_object
from rotator.digitalocean.identifiers import TEXT, UUID, api_path, checked
from rotator.errors import DigitalOceanError, NotFound, UsageError
from rotator.secret import Secret

_SECRET = re.compile(r"[\x21-\x7e]{1,512}")
SCOPES = frozenset({"genai:read", "genai:create", "genai:delete"})


class GenAIAgentKeyKind(CredentialKind):
    """Agent API keys: create the new one, push, delete the old after the grace period."""

    kind: ClassVar[str] = "genai_agent_key"
    fields: ClassVar[tuple[str, ...]] = ("api_key",)
    identifier_field: ClassVar[str | None] = None
    secret_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})
    option_keys: ClassVar[tuple[str, ...]] = ("agent", "key")
    required: ClassVar[tuple[str, ...]] = ("agent", "key")

    @classmethod
    def scopes(cls, options: Mapping[str, str]) -> frozenset[str]:
        return SCOPES

    @classmethod
    def check_options(cls, options: Mapping[str, str]) -> None:
        if not UUID.fullmatch(options.get("agent", "")):
            raise ValueError("agent must be the agent's UUID")

    @property
    def _keys_path(self) -> str:
        return api_path("/v2/gen-ai/agents/{}/api_keys", self.options["agent"])

    def where(self) -> str:
        return f"GenAI agent {self.options['agent']}"

    def _list(self) -> list[dict[str, Any]]:
        path = self._keys_path
        items = list(self.client.paginate(path, "api_key_infos"))
        for item in items:
            checked(item.get("uuid"), UUID, "a key uuid", f"GET {path}")
        return items

    def current(self) -> Current:
        reference = self.options["key"]
        items = self._list()
        matches = [i for i in items if i["uuid"] == reference] or [
            i for i in items if i.get("name") == reference
        ]
        if not matches:
            raise UsageError(f"no API key with uuid or name {reference!r} on {self.where()}")
        if len(matches) > 1:
            raise UsageError(
                f"{len(matches)} API keys of {self.where()} are named {reference!r}; "
                "name the key by its uuid instead"
            )
        return Current(str(matches[0]["uuid"]), parse_time(matches[0].get("created_at")))

    def template(self, identifier: str) -> tuple[Mapping[str, str], ...]:
        if not any(item["uuid"] == identifier for item in self._list()):
            raise NotFound(404, f"no API key {identifier} on {self.where()}")
        return ()

    def create(self, name: str, template: tuple[Mapping[str, str], ...]) -> Credential:
        path = self._keys_path
        response = self.client.request(
            "POST", path, idempotent=False, json={"agent_uuid": self.options["agent"], "name": name}
        )
        answer = json_object(response, "POST", path).get("api_key_info")
        where = f"POST {path}"
        if not isinstance(answer, dict) or not isinstance(answer.get("secret_key"), str):
            raise DigitalOceanError("DigitalOcean created an agent API key but sent no secret")
        key_id = checked(answer.get("uuid"), UUID, "the key uuid", where)
        if answer.get("name") is not None:
            checked(answer.get("name"), TEXT, "the key name", where)
        if not _SECRET.fullmatch(answer["secret_key"]):
            raise DigitalOceanError(f"bad answer to {where}: the secret is not one line of text")
        return Credential(key_id, {"api_key": Secret(answer["secret_key"])}, None)

    def find(self, name: str) -> list[str]:
        return [str(item["uuid"]) for item in self._list() if item.get("name") == name]

    def revoke(self, identifier: str, credential: Credential | None = None) -> bool:
        path = api_path("/v2/gen-ai/agents/{}/api_keys/{}", self.options["agent"], identifier)
        try:
            self.client.request("DELETE", path)
        except NotFound:
            return False
        return True
