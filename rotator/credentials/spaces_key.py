"""``kind = "spaces_key"``: a Spaces access key (the default when ``spaces_key = …`` is set).

``POST /v2/spaces/keys`` makes a key with the same grants as the current one
and shows its secret once; ``DELETE /v2/spaces/keys/{access_key}`` revokes.
Fields: ``access_key``, ``secret_key``. The sealed form in the store is the
secret key alone, as before kinds existed, so an in-flight rotation
recorded by an older version resumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rotator.credentials.base import Credential, CredentialKind, Current, KeyPair, parse_time
from rotator.digitalocean.scopes import SPACES_ROTATION_SCOPES
from rotator.digitalocean.spaces import Grant, create_key, delete_key, find_key, get_key, list_keys
from rotator.secret import Secret


class SpacesKeyKind(CredentialKind):
    """Spaces access keys: overlap by grace period, no downtime."""

    kind: ClassVar[str] = "spaces_key"
    fields: ClassVar[tuple[str, ...]] = ("access_key", "secret_key")
    identifier_field: ClassVar[str | None] = "access_key"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"secret_key"})
    option_keys: ClassVar[tuple[str, ...]] = ("spaces_key",)
    required: ClassVar[tuple[str, ...]] = ("spaces_key",)
    noun: ClassVar[str] = "key"

    @classmethod
    def scopes(cls, options: Mapping[str, str]) -> frozenset[str]:
        return SPACES_ROTATION_SCOPES

    def where(self) -> str:
        return "Spaces"

    def current(self) -> Current:
        key = find_key(self.client, self.options["spaces_key"])
        return Current(key.access_key, parse_time(key.created_at))

    def template(self, identifier: str) -> tuple[Mapping[str, str], ...]:
        return tuple(grant.to_json() for grant in get_key(self.client, identifier).grants)

    def describe_create(self, name: str, identifier: str) -> str:
        grants = self.template(identifier)
        shown = ", ".join(f"{g['bucket'] or '*'}:{g['permission']}" for g in grants) or "none"
        return f"create key {name} with the grants of {identifier} ({shown})"

    def create(self, name: str, template: tuple[Mapping[str, str], ...]) -> Credential:
        grants = tuple(Grant(g["bucket"], g["permission"]) for g in template)
        key, secret = create_key(self.client, name, grants)
        return KeyPair(key.access_key, secret)

    def find(self, name: str) -> list[str]:
        return [key.access_key for key in list_keys(self.client, name=name) if key.name == name]

    def revoke(self, identifier: str, credential: Credential | None = None) -> bool:
        return delete_key(self.client, identifier)

    def seal(self, credential: Credential) -> Secret:
        return credential.secret_key

    def unseal(self, identifier: str, sealed: Secret) -> Credential:
        return KeyPair(identifier, sealed)
