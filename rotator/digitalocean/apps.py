"""App Platform calls: read an app, replace its spec, read a deployment.

Apps and specs stay the plain JSON objects DigitalOcean sent. The App
Platform sink sends a spec back with only its own two env vars changed, and a
model class would drop or reorder fields it does not know (``databases``,
``ingress``, ``alerts``, whatever DigitalOcean adds next), which a PUT would
then delete: a PUT replaces the whole spec.
"""

from __future__ import annotations

from typing import Any

from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.failures import json_object
from rotator.digitalocean.identifiers import UUID, api_path, checked
from rotator.errors import DigitalOceanError

COMPONENT_KINDS = ("services", "workers", "jobs", "static_sites", "functions")
"""The spec lists whose components carry ``envs`` (databases have none)."""

IN_FLIGHT = ("pending_deployment", "in_progress_deployment")
"""Where an app shows a deployment that has not finished yet."""


def get_app(client: DigitalOceanClient, app_id: str) -> dict[str, Any]:
    """The app (spec with secrets as ``EV[...]``): ``GET /v2/apps/{id}``, needs ``app:read``."""
    path = api_path("/v2/apps/{}", app_id)
    return _member(client.get_json(path), "app", "GET", path)


def update_app_spec(
    client: DigitalOceanClient, app_id: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """Replace the whole spec and start a deployment: ``PUT /v2/apps/{id}``, needs ``app:update``.

    Sends ``{"spec": spec}`` exactly once (``idempotent=False``): a PUT that
    reached DigitalOcean already started a deployment, and a replay would
    start a second one. A 5xx or a lost answer therefore leaves the caller
    to find out, by reading the app, whether the update was applied.
    Returns the app, whose ``pending_deployment`` is the deployment started.
    """
    path = api_path("/v2/apps/{}", app_id)
    response = client.request("PUT", path, json={"spec": spec}, idempotent=False)
    return _member(json_object(response, "PUT", path), "app", "PUT", path)


def get_deployment(client: DigitalOceanClient, app_id: str, deployment_id: str) -> dict[str, Any]:
    """One deployment and its ``phase``.

    ``GET /v2/apps/{app_id}/deployments/{deployment_id}``, needs ``app:read``.
    """
    path = api_path("/v2/apps/{}/deployments/{}", app_id, deployment_id)
    return _member(client.get_json(path), "deployment", "GET", path)


def in_flight(app: dict[str, Any]) -> dict[str, Any] | None:
    """The app's deployment that is pending or in progress, if it shows one.

    Raises DigitalOceanError if that deployment's id is not a UUID.
    """
    for slot in IN_FLIGHT:
        deployment = app.get(slot)
        if isinstance(deployment, dict) and isinstance(deployment.get("id"), str):
            _deployment_id(deployment, f"an app's {slot}")
            return deployment
    return None


def active_deployment_id(app: dict[str, Any]) -> str | None:
    """The id of the deployment the app runs now, if any; a non-UUID id is a DigitalOceanError."""
    active = app.get("active_deployment")
    if isinstance(active, dict) and isinstance(active.get("id"), str):
        return _deployment_id(active, "an app's active_deployment")
    return None


def _deployment_id(deployment: dict[str, Any], where: str) -> str:
    # Deployment ids go into request paths, the store and log lines: UUIDs only.
    return checked(deployment.get("id"), UUID, "the deployment id", where)


def _member(body: dict[str, Any], key: str, method: str, path: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise DigitalOceanError(f"the answer to {method} {path} has no {key!r} object")
    return value
