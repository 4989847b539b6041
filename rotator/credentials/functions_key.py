"""``kind = "functions_key"``: an access key of one Serverless Functions namespace.

From the official spec (``resources/functions/functions_*_key.yml``), every
call needs ``function:admin``:

- ``GET /v2/functions/namespaces/{namespace}/keys`` → ``{access_keys, count}``
  (no paging, no name filter; never a secret);
- ``POST …/keys`` with ``{name, expires_in?}`` → 201 ``{access_key: {id,
  name, secret, expires_at, …}}``: the secret is shown this once;
- ``DELETE …/keys/{key_id}`` → 200 ``{}``; 404 when it is gone.

Policy keys: ``namespace`` (the namespace id, ``fn-…``), ``key`` (the id or
unique name of the key rotator takes over) and ``expires_in`` (``<int>h`` or
``<int>d``, at least ``1h``): DigitalOcean then expires each key by itself
too, a backstop if a revoke never happens. Fields: ``key_id``, ``secret``.

Before a new key reaches any sink it must authenticate on the namespace's
API host (``api_host`` of ``GET /v2/functions/namespaces/{namespace}``,
``function:admin``; see :func:`rotator.digitalocean.logins.functions_key_works`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from rotator.credentials.base import Credential, CredentialKind, Current, parse_time
from rotator.digitalocean.failures import json_object
from rotator.digitalocean.identifiers import TEXT, api_path, checked
from rotator.digitalocean.logins import functions_key_works
from rotator.errors import CredentialCheckFailed, DigitalOceanError, NotFound, UsageError
from rotator.secret import Secret

KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
NAMESPACE = re.compile(r"[A-Za-z0-9_-]{1,128}")
EXPIRES_IN = re.compile(r"([1-9][0-9]{0,5})([hd])")
_SECRET = re.compile(r"[\x21-\x7e]{1,512}")
SCOPES = frozenset({"function:admin"})


def lifetime(expires_in: str) -> timedelta:
    """``"7d"`` → 7 days; ValueError for anything but ``<int>h``/``<int>d`` of at least 1h."""
    match = EXPIRES_IN.fullmatch(expires_in)
    if match is None:
        raise ValueError(f"expires_in must be <int>h or <int>d (at least 1h), not {expires_in!r}")
    count, unit = int(match.group(1)), match.group(2)
    return timedelta(hours=count) if unit == "h" else timedelta(days=count)


class FunctionsKeyKind(CredentialKind):
    """Namespace access keys: overlap by grace period, plus native expiry."""

    kind: ClassVar[str] = "functions_key"
    fields: ClassVar[tuple[str, ...]] = ("key_id", "secret")
    identifier_field: ClassVar[str | None] = "key_id"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"secret"})
    option_keys: ClassVar[tuple[str, ...]] = ("namespace", "key", "expires_in")
    required: ClassVar[tuple[str, ...]] = ("namespace", "key")
    downtime: ClassVar[str] = (
        "none: the old key lives through the grace period; expires_in adds native expiry"
    )

    @classmethod
    def scopes(cls, options: Mapping[str, str]) -> frozenset[str]:
        return SCOPES

    @classmethod
    def check_options(cls, options: Mapping[str, str]) -> None:
        if not NAMESPACE.fullmatch(options.get("namespace", "")):
            raise ValueError("namespace must be a Functions namespace id such as fn-…")
        if "expires_in" in options:
            lifetime(options["expires_in"])

    @property
    def _keys_path(self) -> str:
        return api_path("/v2/functions/namespaces/{}/keys", self.options["namespace"])

    def where(self) -> str:
        return f"Functions namespace {self.options['namespace']}"

    def _list(self) -> list[dict[str, Any]]:
        path = self._keys_path
        body = self.client.get_json(path)
        items = body.get("access_keys")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise DigitalOceanError(f"bad answer to GET {path}: no list of access keys")
        for item in items:
            checked(item.get("id"), KEY_ID, "a key id", f"GET {path}")
        return items

    def current(self) -> Current:
        reference = self.options["key"]
        items = self._list()
        matches = [i for i in items if i["id"] == reference] or [
            i for i in items if i.get("name") == reference
        ]
        if not matches:
            raise UsageError(f"no key with id or name {reference!r} in {self.where()}")
        if len(matches) > 1:
            raise UsageError(
                f"{len(matches)} keys in {self.where()} are named {reference!r}; "
                "name the key by its id instead"
            )
        return Current(str(matches[0]["id"]), parse_time(matches[0].get("created_at")))

    def template(self, identifier: str) -> tuple[Mapping[str, str], ...]:
        if not any(item["id"] == identifier for item in self._list()):
            raise NotFound(404, f"no key {identifier} in {self.where()}")
        return ()

    def describe_create(self, name: str, identifier: str) -> str:
        expiry = self.options.get("expires_in")
        ends = f", expiring after {expiry}" if expiry else ""
        return f"create key {name} in {self.where()}{ends}"

    def create(self, name: str, template: tuple[Mapping[str, str], ...]) -> Credential:
        path = self._keys_path
        body: dict[str, str] = {"name": name}
        if "expires_in" in self.options:
            body["expires_in"] = self.options["expires_in"]
        response = self.client.request("POST", path, idempotent=False, json=body)
        answer = json_object(response, "POST", path).get("access_key")
        where = f"POST {path}"
        if not isinstance(answer, dict) or not isinstance(answer.get("secret"), str):
            raise DigitalOceanError("DigitalOcean created a Functions key but sent no secret")
        key_id = checked(answer.get("id"), KEY_ID, "the key id", where)
        if answer.get("name") is not None:
            checked(answer.get("name"), TEXT, "the key name", where)
        if not _SECRET.fullmatch(answer["secret"]):
            raise DigitalOceanError(f"bad answer to {where}: the secret is not one line of text")
        secret = Secret(answer["secret"])
        return Credential(key_id, {"key_id": key_id, "secret": secret}, "key_id")

    def find(self, name: str) -> list[str]:
        return [str(item["id"]) for item in self._list() if item.get("name") == name]

    def verify(self, credential: Credential) -> None:
        path = api_path("/v2/functions/namespaces/{}", self.options["namespace"])
        namespace = self.client.get_json(path).get("namespace")
        api_host = namespace.get("api_host") if isinstance(namespace, dict) else None
        if not isinstance(api_host, str):
            raise DigitalOceanError(f"bad answer to GET {path}: no api_host")
        secret = credential.fields()["secret"]
        assert isinstance(secret, Secret)
        if not functions_key_works(self.client, api_host, credential.identifier, secret):
            raise CredentialCheckFailed(
                f"the new key {credential.identifier} does not authenticate to "
                f"{self.where()}; nothing was pushed"
            )

    def revoke(self, identifier: str, credential: Credential | None = None) -> bool:
        path = api_path(
            "/v2/functions/namespaces/{}/keys/{}", self.options["namespace"], identifier
        )
        try:
            self.client.request("DELETE", path)
        except NotFound:
            return False
        return True
