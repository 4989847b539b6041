"""App Platform calls: read an app, replace its spec, read a deployment.

Apps and specs stay the plain JSON objects DigitalOcean sent. The App
Platform sink sends a spec back with only its own two env vars changed, and a
model class would drop or reorder fields it does not know (``databases``,
``ingress``, ``alerts``, whatever DigitalOcean adds next), which a PUT would
then delete: a PUT replaces the whole spec.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from rotator.digitalocean.client import DigitalOceanClient, json_object
from rotator.errors import DigitalOceanError

COMPONENT_KINDS = ("services", "workers", "jobs", "static_sites", "functions")
"""The spec lists whose components carry ``envs`` (databases have none)."""

IN_FLIGHT = ("pending_deployment", "in_progress_deployment")
"""Where an app shows a deployment that has not finished yet."""


def get_app(client: DigitalOceanClient, app_id: str) -> dict[str, Any]:
    """The app (spec with secrets as ``EV[...]``): ``GET /v2/apps/{id}``, needs ``app:read``."""
    path = f"/v2/apps/{_segment(app_id)}"
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
    path = f"/v2/apps/{_segment(app_id)}"
    response = client.request("PUT", path, json={"spec": spec}, idempotent=False)
    return _member(json_object(response, "PUT", path), "app", "PUT", path)


def get_deployment(client: DigitalOceanClient, app_id: str, deployment_id: str) -> dict[str, Any]:
    """One deployment and its ``phase``.

    ``GET /v2/apps/{app_id}/deployments/{deployment_id}``, needs ``app:read``.
    """
    path = f"/v2/apps/{_segment(app_id)}/deployments/{_segment(deployment_id)}"
    return _member(client.get_json(path), "deployment", "GET", path)


def in_flight(app: dict[str, Any]) -> dict[str, Any] | None:
    """The app's deployment that is pending or in progress, if it shows one."""
    for slot in IN_FLIGHT:
        deployment = app.get(slot)
        if isinstance(deployment, dict) and isinstance(deployment.get("id"), str):
            return deployment
    return None


def active_deployment_id(app: dict[str, Any]) -> str | None:
    """The id of the deployment the app runs now, if any."""
    active = app.get("active_deployment")
    if isinstance(active, dict) and isinstance(active.get("id"), str):
        return str(active["id"])
    return None


def _segment(value: str) -> str:
    # An id from a config file goes into a path: "/" or ".." must not move the request.
    return quote(value, safe="")


def _member(body: dict[str, Any], key: str, method: str, path: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise DigitalOceanError(f"the answer to {method} {path} has no {key!r} object")
    return value
