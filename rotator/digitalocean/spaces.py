"""Spaces access keys: list, look up, create and delete.

A key's secret is returned exactly once, by the create call; rotator seals it
at once and never shows it. Update can only rename, so rotation always
creates a new key with the same grants and deletes the old one later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.failures import json_object
from rotator.digitalocean.identifiers import (
    ACCESS_KEY,
    BUCKET,
    PERMISSION,
    TEXT,
    TIMESTAMP,
    api_path,
    checked,
    is_access_key,
)
from rotator.errors import DigitalOceanError, NotFound, UsageError
from rotator.secret import Secret

# A secret goes into env vars and Vault as is: one line of visible ASCII, bounded.
_SECRET = re.compile(r"[\x21-\x7e]{1,256}")


@dataclass(frozen=True)
class Grant:
    """Access to one bucket (``bucket=""`` with ``fullaccess``: every bucket)."""

    bucket: str
    permission: str

    def to_json(self) -> dict[str, str]:
        return {"bucket": self.bucket, "permission": self.permission}


@dataclass(frozen=True)
class SpacesKey:
    """A Spaces access key as listed (never its secret)."""

    name: str
    access_key: str
    grants: tuple[Grant, ...]
    created_at: str

    @classmethod
    def from_json(cls, body: Any, where: str = "a Spaces key call") -> SpacesKey:
        """Read one ``key`` object, every identifier checked against its shape.

        Raises DigitalOceanError ("bad answer to ...") for a missing or
        misshapen access key, name, grant or creation time: such a key must
        never reach a path, a sink or the store.
        """
        if not isinstance(body, dict):
            raise DigitalOceanError(f"bad answer to {where}: no key object")
        access_key = checked(body.get("access_key"), ACCESS_KEY, "the access key", where)
        grants = body.get("grants")
        if grants is None:
            grants = []
        if not isinstance(grants, list):
            raise DigitalOceanError(f"bad answer to {where}: the key's grants are not a list")
        name = body.get("name")
        created_at = body.get("created_at")
        return cls(
            "" if name in (None, "") else checked(name, TEXT, "the key name", where),
            access_key,
            tuple(_grant(grant, where) for grant in grants),
            ""
            if created_at in (None, "")
            else checked(created_at, TIMESTAMP, "the creation time", where),
        )


def _grant(body: Any, where: str) -> Grant:
    if not isinstance(body, dict):
        raise DigitalOceanError(f"bad answer to {where}: a grant is not an object")
    return Grant(
        checked(body.get("bucket", ""), BUCKET, "a grant's bucket", where),
        checked(body.get("permission", ""), PERMISSION, "a grant's permission", where),
    )


def list_keys(client: DigitalOceanClient, *, name: str | None = None) -> list[SpacesKey]:
    """Every key (or those with exactly ``name``): ``GET /v2/spaces/keys``, ``spaces_key:read``."""
    params = {"name": name} if name is not None else None
    return [
        SpacesKey.from_json(item, "GET /v2/spaces/keys")
        for item in client.paginate("/v2/spaces/keys", "keys", params=params)
    ]


def get_key(client: DigitalOceanClient, access_key: str) -> SpacesKey:
    """One key: ``GET /v2/spaces/keys/{access_key}``, ``spaces_key:read``."""
    path = api_path("/v2/spaces/keys/{}", access_key)
    body = client.get_json(path)
    return SpacesKey.from_json(body.get("key"), f"GET {path}")


def find_key(client: DigitalOceanClient, reference: str) -> SpacesKey:
    """The key an operator named, by access key or by (unique) name.

    A reference shaped like an access key is looked up directly first; any
    other is only ever searched for by name, never put into a path.
    """
    if is_access_key(reference):
        try:
            return get_key(client, reference)
        except NotFound:
            pass
    matches = [key for key in list_keys(client, name=reference) if key.name == reference]
    if not matches:
        raise UsageError(f"no Spaces key with access key or name {reference!r}")
    if len(matches) > 1:
        raise UsageError(
            f"{len(matches)} Spaces keys are named {reference!r}; "
            "name the key by its access key instead"
        )
    return matches[0]


def create_key(
    client: DigitalOceanClient, name: str, grants: tuple[Grant, ...]
) -> tuple[SpacesKey, Secret]:
    """A new key and its secret: ``POST /v2/spaces/keys``, ``spaces_key:create_credentials``.

    Never retried blindly: a lost answer may still have created the key, so
    the caller looks it up by its (unique, planned) name instead.
    """
    response = client.request(
        "POST",
        "/v2/spaces/keys",
        idempotent=False,
        json={"name": name, "grants": [g.to_json() for g in grants]},
    )
    where = "POST /v2/spaces/keys"
    body = json_object(response, "POST", "/v2/spaces/keys").get("key")
    if not isinstance(body, dict) or not isinstance(body.get("secret_key"), str):
        raise DigitalOceanError("DigitalOcean created a Spaces key but sent no secret for it")
    key = SpacesKey.from_json(body, where)
    if not body["secret_key"] or not _SECRET.fullmatch(body["secret_key"]):
        # Never quoted: it is a secret, whatever its shape.
        raise DigitalOceanError(f"bad answer to {where}: the secret key is not one line of text")
    return key, Secret(body["secret_key"])


def delete_key(client: DigitalOceanClient, access_key: str) -> bool:
    """Delete a key: ``DELETE /v2/spaces/keys/{access_key}``, ``spaces_key:delete``.

    Returns False when the key was already gone (a retried delete that had
    worked the first time answers 404).
    """
    try:
        client.request("DELETE", api_path("/v2/spaces/keys/{}", access_key))
    except NotFound:
        return False
    return True
