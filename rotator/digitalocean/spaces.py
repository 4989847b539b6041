"""Spaces access keys: list, look up, create and delete.

A key's secret is returned exactly once, by the create call; rotator seals it
at once and never shows it. Update can only rename, so rotation always
creates a new key with the same grants and deletes the old one later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rotator.digitalocean.client import DigitalOceanClient, json_object
from rotator.errors import DigitalOceanError, NotFound, UsageError
from rotator.secret import Secret


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
    def from_json(cls, body: Any) -> SpacesKey:
        if not isinstance(body, dict) or not isinstance(body.get("access_key"), str):
            raise DigitalOceanError("DigitalOcean sent a Spaces key without an access key")
        grants = tuple(
            Grant(str(g.get("bucket", "")), str(g.get("permission", "")))
            for g in body.get("grants") or []
            if isinstance(g, dict)
        )
        return cls(
            str(body.get("name", "")), body["access_key"], grants, str(body.get("created_at", ""))
        )


def list_keys(client: DigitalOceanClient, *, name: str | None = None) -> list[SpacesKey]:
    """Every key (or those with exactly ``name``): ``GET /v2/spaces/keys``, ``spaces_key:read``."""
    params = {"name": name} if name is not None else None
    return [
        SpacesKey.from_json(item)
        for item in client.paginate("/v2/spaces/keys", "keys", params=params)
    ]


def get_key(client: DigitalOceanClient, access_key: str) -> SpacesKey:
    """One key: ``GET /v2/spaces/keys/{access_key}``, ``spaces_key:read``."""
    body = client.get_json(f"/v2/spaces/keys/{access_key}")
    return SpacesKey.from_json(body.get("key"))


def find_key(client: DigitalOceanClient, reference: str) -> SpacesKey:
    """The key an operator named, by access key or by (unique) name."""
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
    body = json_object(response, "POST", "/v2/spaces/keys").get("key")
    if not isinstance(body, dict) or not isinstance(body.get("secret_key"), str):
        raise DigitalOceanError("DigitalOcean created a Spaces key but sent no secret for it")
    return SpacesKey.from_json(body), Secret(body["secret_key"])


def delete_key(client: DigitalOceanClient, access_key: str) -> bool:
    """Delete a key: ``DELETE /v2/spaces/keys/{access_key}``, ``spaces_key:delete``.

    Returns False when the key was already gone (a retried delete that had
    worked the first time answers 404).
    """
    try:
        client.request("DELETE", f"/v2/spaces/keys/{access_key}")
    except NotFound:
        return False
    return True
