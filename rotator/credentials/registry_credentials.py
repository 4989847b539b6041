"""``kind = "registry_credentials"``: Docker credentials for one container registry.

From the official spec (``resources/registry/registries_get_dockerCredentials.yml``):
``GET /v2/registries/{registry}/docker-credentials?read_write&expiry_seconds``
answers a Docker ``config.json`` (``{auths: {registry.digitalocean.com:
{auth}}}``, ``auth`` being base64 of ``user:password``) and mints **new**
credentials on every call. The operation lists ``registry:read`` and
``registry:update`` without saying whether either suffices, so both are
required. ``GET /v2/registries/{registry}`` (``registry:read``) proves the
registry exists.

The password is an OAuth token of its own. Nothing in the API lists or
deletes minted credentials, so revoking is done as doctl's ``registry
logout`` does it: ``POST {oauth_url}/v1/oauth/revoke`` with the form
``token=<password>``, authenticated by that token (RFC 7009; not in the
OpenAPI spec). rotator revokes the credentials it minted once their grace
period ends; credentials made by hand before the first rotation, whose
password rotator never held, and any minted by a call whose answer was lost
(they cannot be found again, so they are never delivered anywhere) end by
their expiry. So a policy must set ``expires_in`` (longer than ``every``
plus ``grace``), the backstop for both. Policy keys: ``registry`` (its
name), ``expires_in``, ``access`` (``read``, the default, or
``read_write``). Fields: ``dockerconfigjson``, ``username``, ``password``,
``registry``. The identifier is ``docr-`` and a short hash of the password.

Before new credentials reach any sink they must log in to the registry
(``ROTATOR_DO_REGISTRY_URL``, :mod:`rotator.digitalocean.logins`),
as ``docker login`` would.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from typing import ClassVar

from rotator.credentials.base import Credential, CredentialKind, Current, parse_time
from rotator.credentials.functions_key import lifetime
from rotator.digitalocean.failures import json_object
from rotator.digitalocean.identifiers import api_path
from rotator.digitalocean.logins import registry_logs_in
from rotator.errors import CredentialCheckFailed, DigitalOceanError
from rotator.secret import Secret

log = logging.getLogger(__name__)

REGISTRY = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
HOST = re.compile(r"[a-z0-9.-]{1,253}(:[0-9]{1,5})?")
_TEXT = re.compile(r"[\x21-\x7e]{1,4096}")
SCOPES = frozenset({"registry:read", "registry:update"})
NOTHING_YET = "docr-initial"
"""The identifier a policy starts from: credentials nobody knows rotator never revokes."""


def identifier(password: str) -> str:
    """A public name for credentials: ``docr-`` and 12 hex digits of the password's SHA-256."""
    return "docr-" + hashlib.sha256(password.encode()).hexdigest()[:12]


class RegistryCredentialsKind(CredentialKind):
    """Docker credentials: a new set per rotation, the old ones expire by themselves."""

    kind: ClassVar[str] = "registry_credentials"
    fields: ClassVar[tuple[str, ...]] = ("dockerconfigjson", "username", "password", "registry")
    identifier_field: ClassVar[str | None] = None
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {"dockerconfigjson", "username", "password"}
    )
    option_keys: ClassVar[tuple[str, ...]] = ("registry", "expires_in", "access")
    required: ClassVar[tuple[str, ...]] = ("registry", "expires_in")
    noun: ClassVar[str] = "credentials"
    downtime: ClassVar[str] = (
        "none: the old credentials work through the grace period, then are revoked "
        "(OAuth revoke); those made by hand end by their expiry (expires_in)"
    )
    revoke_needs_secret: ClassVar[bool] = True
    expires_by_itself: ClassVar[bool] = True

    @classmethod
    def scopes(cls, options: Mapping[str, str]) -> frozenset[str]:
        return SCOPES

    @classmethod
    def check_options(cls, options: Mapping[str, str]) -> None:
        if not REGISTRY.fullmatch(options.get("registry", "")):
            raise ValueError("registry must be a registry name (a-z, 0-9, -)")
        lifetime(options["expires_in"])
        if options.get("access", "read") not in ("read", "read_write"):
            raise ValueError('access must be "read" or "read_write"')

    def where(self) -> str:
        return f"container registry {self.options['registry']}"

    def current(self) -> Current:
        registry = self._named(api_path("/v2/registries/{}", self.options["registry"]), "registry")
        created = registry.get("created_at") if isinstance(registry, dict) else None
        return Current(NOTHING_YET, parse_time(created))

    def template(self, identifier: str) -> tuple[Mapping[str, str], ...]:
        self.client.get_json(api_path("/v2/registries/{}", self.options["registry"]))
        return ()

    def describe_create(self, name: str, identifier: str) -> str:
        access = self.options.get("access", "read").replace("_", "-")
        return (
            f"get new {access} Docker credentials for {self.where()}, expiring after "
            f"{self.options['expires_in']}"
        )

    def create(self, name: str, template: tuple[Mapping[str, str], ...]) -> Credential:
        path = api_path("/v2/registries/{}/docker-credentials", self.options["registry"])
        seconds = int(lifetime(self.options["expires_in"]).total_seconds())
        params: dict[str, str | int] = {"expiry_seconds": seconds}
        if self.options.get("access") == "read_write":
            params["read_write"] = "true"
        # Not idempotent in effect (each call mints credentials), so never retried blindly.
        response = self.client.request("GET", path, params=params, idempotent=False)
        body = json_object(response, "GET", path)
        auths = body.get("auths")
        if not isinstance(auths, dict) or len(auths) != 1:
            raise DigitalOceanError(f"bad answer to GET {path}: not one registry in auths")
        [(host, entry)] = auths.items()
        auth = entry.get("auth") if isinstance(entry, dict) else None
        if not isinstance(host, str) or not HOST.fullmatch(host) or not isinstance(auth, str):
            raise DigitalOceanError(f"bad answer to GET {path}: no registry host and auth")
        try:
            username, colon, password = (
                base64.b64decode(auth, validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            colon, username, password = "", "", ""
        if not colon or not _TEXT.fullmatch(username) or not _TEXT.fullmatch(password):
            # Never quoted: it holds the credentials.
            raise DigitalOceanError(f"bad answer to GET {path}: the auth is not user:password")
        config = json.dumps({"auths": {host: {"auth": auth}}}, separators=(",", ":"))
        return Credential(
            identifier(password),
            {
                "dockerconfigjson": Secret(config),
                "username": Secret(username),
                "password": Secret(password),
                "registry": host,
            },
            None,
        )

    def find(self, name: str) -> list[str]:
        return []  # nothing lists minted credentials; a lost set expires unused

    def verify(self, credential: Credential) -> None:
        fields = credential.fields()
        username, password = fields["username"], fields["password"]
        assert isinstance(username, Secret) and isinstance(password, Secret)
        if not registry_logs_in(self.client, username, password):
            raise CredentialCheckFailed(
                f"the new credentials {credential.identifier} for {self.where()} do not log "
                f"in to {self.client.registry_url}; nothing was pushed"
            )

    def revoke(self, identifier: str, credential: Credential | None = None) -> bool:
        if credential is None:
            # Never held by rotator (made by hand, or its secret cannot be opened): its
            # password is unknown, so it ends by its expiry. Not revoked: False.
            log.info(
                "policy %s: credentials %s are left to expire; rotator never held them",
                self.policy,
                identifier,
            )
            return False
        password = credential.fields()["password"]
        assert isinstance(password, Secret)
        return self.client.revoke_oauth_token(password)
