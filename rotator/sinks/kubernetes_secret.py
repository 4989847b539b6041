"""The Secret the kubernetes sink writes: its ownership marks, who else may own it, its bodies.

Ownership marks on the Secret (other labels and annotations are kept)::

    labels:      app.kubernetes.io/managed-by = rotator
    annotations: rotator.do/owner        = <policy name>
                 rotator.do/keys         = <the data keys rotator owns, comma-separated>
                 rotator.do/access-key   = <access key id served>
                 rotator.do/rotation-id  = <rotation id>
                 rotator.do/rotated-at   = <ISO 8601 time of the push>

A Secret is someone else's (and refused) when ``rotator.do/owner`` names
another policy, ``app.kubernetes.io/managed-by`` names another tool (Helm,
...), a controller owns it (``ownerReferences`` with ``controller: true``:
External Secrets, Sealed Secrets), or a server-side-apply manager other than
rotator owns one of the keys rotator would write (``managedFields``, Argo CD,
Flux). An immutable Secret is refused too. Nothing here sends a request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Collection, Mapping
from typing import Any

from rotator.secret import Secret
from rotator.sinks.base import PushContext
from rotator.sinks.kubernetes_api import FIELD_MANAGER, section

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "rotator"
OWNER = "rotator.do/owner"
KEYS_MARK = "rotator.do/keys"
ACCESS_KEY_MARK = "rotator.do/access-key"
ROTATION_ID_MARK = "rotator.do/rotation-id"
ROTATED_AT_MARK = "rotator.do/rotated-at"


def decode(value: object) -> bytes | None:
    """A Secret's base64 data value, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _encode(value: str) -> str:
    return base64.b64encode(value.encode()).decode("ascii")


def holds(secret: Mapping[str, Any], values: Mapping[str, Secret]) -> bool:
    """Whether the Secret holds every value under its key (compared in constant time)."""
    data = section(secret, "data")
    for key, value in values.items():
        stored = decode(data.get(key))
        if stored is None or not hmac.compare_digest(stored, value.reveal().encode()):
            return False
    return True


def marked_for(secret: Mapping[str, Any], policy: str, access_key: str) -> bool:
    """Whether the Secret's marks say *policy* wrote *access_key* there."""
    annotations = section(secret, "metadata", "annotations")
    return annotations.get(OWNER) == policy and annotations.get(ACCESS_KEY_MARK) == access_key


def marks(keys: Collection[str], access_key: str, context: PushContext) -> dict[str, str]:
    """The ownership annotations of one push."""
    return {
        OWNER: context.policy,
        KEYS_MARK: ",".join(sorted(keys)),
        ACCESS_KEY_MARK: access_key,
        ROTATION_ID_MARK: context.rotation_id,
        ROTATED_AT_MARK: context.rotated_at.isoformat(),
    }


def new_secret(
    name: str, namespace: str, values: Mapping[str, Secret], annotations: Mapping[str, str]
) -> dict[str, Any]:
    """The body of a new Opaque Secret holding only the owned keys."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {MANAGED_BY: MANAGER},
            "annotations": dict(annotations),
        },
        "type": "Opaque",
        "data": {key: _encode(value.reveal()) for key, value in values.items()},
    }


def merge_patch(
    current: Mapping[str, Any], values: Mapping[str, Secret], annotations: Mapping[str, str]
) -> dict[str, Any]:
    """A JSON merge patch of only the owned keys, guarded by the ``resourceVersion`` read."""
    metadata: dict[str, Any] = {
        "resourceVersion": section(current, "metadata").get("resourceVersion"),
        "annotations": dict(annotations),
    }
    if MANAGED_BY not in section(current, "metadata", "labels"):
        metadata["labels"] = {MANAGED_BY: MANAGER}
    return {
        "metadata": metadata,
        "data": {key: _encode(value.reveal()) for key, value in values.items()},
    }


def refusal(
    secret: Mapping[str, Any], policy: str | None, keys: Collection[str], location: str
) -> str | None:
    """Why rotator must not write this Secret (see the module docstring), or None."""
    owner = foreign_owner(section(secret, "metadata"), policy, keys)
    if owner is not None:
        mine = f"policy {policy!r}" if policy else "this sink"
        return (
            f"{location} is managed by {owner}; {mine} will not write there "
            "(choose another Secret name)"
        )
    if secret.get("immutable") is True:
        return f"{location} is immutable; rotator cannot update it"
    return None


def foreign_owner(
    metadata: Mapping[str, Any], policy: str | None, keys: Collection[str]
) -> str | None:
    """Who else manages a Secret with this metadata, in words; None when nobody does."""
    for reference in metadata.get("ownerReferences") or []:
        if isinstance(reference, Mapping) and reference.get("controller") is True:
            return f"the controller {reference.get('kind')}/{reference.get('name')}"
    manager = section(metadata, "labels").get(MANAGED_BY) or section(metadata, "annotations").get(
        MANAGED_BY
    )
    if manager is not None and manager != MANAGER:
        return f"{manager!r} ({MANAGED_BY})"
    marked = section(metadata, "annotations").get(OWNER)
    if marked is not None and policy is not None and marked != policy:
        return f"rotator policy {marked!r} ({OWNER})"
    for entry in metadata.get("managedFields") or []:
        if not isinstance(entry, Mapping) or entry.get("operation") != "Apply":
            continue
        if entry.get("manager") == FIELD_MANAGER:
            continue
        data = section(entry, "fieldsV1", "f:data")
        taken = sorted(key for key in keys if f"f:{key}" in data)
        if taken:
            return (
                f"the server-side-apply manager {entry.get('manager')!r}, which owns "
                f"{', '.join(taken)}"
            )
    return None
