"""The generic resources the scope audit probes: droplets, clusters, databases, ...

Each family is a list of JSON items per account. The sandbox answers what a
probe needs and stays honest about state:

- list (``GET`` collection): the items, paginated where the spec paginates;
- get/update/action/delete on an id that does not exist: 404;
- create (``POST`` collection): 422 without a valid body, and 422 with one
  too, because the sandbox never creates these resources (it models the
  probe surface, not the products);
- update (``PUT``/``PATCH``) of an existing item: merges the body's fields;
- action (``POST .../actions``): needs a body with ``type``, answers an
  action, changes nothing;
- delete of an existing item: really deletes it (204).

Sub-resources beyond the item (domain records) are not modelled: 404.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from rotator.sandbox.calls import Call, Reply, not_found, unprocessable
from rotator.sandbox.deployments import iso
from rotator.sandbox.pagination import paginate
from rotator.sandbox.scopes import Endpoint


@dataclass(frozen=True)
class Family:
    """How one resource family is shaped in the API."""

    list_key: str
    item_key: str
    id_fields: tuple[str, ...] = ("id",)
    create_requires: tuple[str, ...] = ("name",)
    paginated: bool = True
    singleton: bool = False
    """The collection path returns one object (``GET /v2/registry``)."""
    bare: bool = False
    """The collection path returns the object itself, unwrapped (balance)."""
    action_requires: tuple[str, ...] = ("type",)
    """What a ``POST .../actions`` body must name (droplet, volume, reserved IP actions)."""
    store: str | None = None
    """The family whose items it shows, when it is another view of them (``/v2/registries``)."""


FAMILIES: dict[str, Family] = {
    "actions": Family("actions", "action"),
    "balance": Family("balance", "balance", singleton=True, bare=True),
    "cdn_endpoints": Family("endpoints", "endpoint", create_requires=("origin",)),
    "certificates": Family("certificates", "certificate"),
    # The spec's databases_list_clusters takes no page parameters and returns no links/meta.
    "databases": Family(
        "databases",
        "database",
        create_requires=("name", "engine", "num_nodes", "size", "region"),
        paginated=False,
    ),
    "domains": Family("domains", "domain", id_fields=("name",)),
    "droplets": Family("droplets", "droplet", create_requires=("name", "size", "image")),
    "firewalls": Family("firewalls", "firewall"),
    "function_namespaces": Family(
        "namespaces",
        "namespace",
        id_fields=("namespace",),
        create_requires=("region", "label"),
    ),
    "images": Family("images", "image", create_requires=("name", "url", "region")),
    "kubernetes_clusters": Family(
        "kubernetes_clusters",
        "kubernetes_cluster",
        create_requires=("name", "region", "version", "node_pools"),
    ),
    "load_balancers": Family("load_balancers", "load_balancer", create_requires=("region",)),
    "monitoring_alerts": Family(
        "policies",
        "policy",
        id_fields=("uuid",),
        create_requires=(
            "type",
            "description",
            "compare",
            "value",
            "window",
            "entities",
            "tags",
            "alerts",
            "enabled",
        ),
    ),
    "projects": Family("projects", "project", create_requires=("name", "purpose")),
    "regions": Family("regions", "region", id_fields=("slug",)),
    # Garbage collection (the registry's "action") takes no required field.
    "registries": Family(
        "registry",
        "registry",
        id_fields=("name",),
        create_requires=("name", "subscription_tier_slug"),
        singleton=True,
        action_requires=(),
    ),
    "registries_all": Family(
        "registries",
        "registry",
        id_fields=("name",),
        create_requires=("name", "subscription_tier_slug"),
        paginated=False,
        action_requires=(),
        store="registries",
    ),
    "reserved_ips": Family(
        "reserved_ips", "reserved_ip", id_fields=("ip",), create_requires=("region",)
    ),
    "sizes": Family("sizes", "size", id_fields=("slug",)),
    "snapshots": Family("snapshots", "snapshot"),
    "ssh_keys": Family(
        "ssh_keys",
        "ssh_key",
        id_fields=("id", "fingerprint"),
        create_requires=("name", "public_key"),
    ),
    "tags": Family("tags", "tag", id_fields=("name",)),
    "uptime_checks": Family("checks", "check", create_requires=("name", "type", "target")),
    "volume_snapshots": Family("snapshots", "snapshot"),
    "volumes": Family("volumes", "volume", create_requires=("name", "size_gigabytes")),
    "vpcs": Family("vpcs", "vpc", create_requires=("name", "region")),
}

_action_ids = itertools.count(1_000_000)


def _items(call: Call, family: str) -> list[dict[str, Any]]:
    # .get, not .setdefault: a read must never add anything to the state.
    return call.tenant.resources.get(FAMILIES[family].store or family, [])


def _find(call: Call, endpoint: Endpoint) -> dict[str, Any]:
    family = FAMILIES[str(endpoint.family)]
    names = list(call.params)
    wanted = call.params[names[0]]
    for item in _items(call, str(endpoint.family)):
        if any(str(item.get(field)) == wanted for field in family.id_fields):
            if len(names) > 1:
                raise not_found()  # a sub-resource the sandbox does not model
            return item
    raise not_found()


def serve(call: Call, endpoint: Endpoint) -> Reply:
    """Answer one generic-resource endpoint (scope already checked)."""
    family = FAMILIES[str(endpoint.family)]
    action = endpoint.action
    if action == "create":
        body = call.json_object()
        missing = [field for field in family.create_requires if field not in body]
        if missing:
            raise unprocessable(f"Missing required field(s): {', '.join(missing)}.")
        raise unprocessable(
            f"The sandbox does not create {endpoint.family}; it only answers scope probes."
        )
    if action == "list":
        with call.state.lock:
            items = [dict(item) for item in _items(call, str(endpoint.family))]
        if family.bare:
            return Reply(200, items[0] if items else {})
        if family.singleton:
            if not items:
                raise not_found()
            return Reply(200, {family.item_key: items[0]})
        if not family.paginated:
            return Reply(200, {family.list_key: items})
        return Reply(200, paginate(call, family.list_key, items))
    if action == "get":
        with call.state.lock:
            return Reply(200, {family.item_key: dict(_find(call, endpoint))})
    with call.state.changing():
        item = _find(call, endpoint)
        if action == "delete":
            _items(call, str(endpoint.family)).remove(item)
            return Reply(204)
        body = call.json_object()
        if action == "action":
            missing = [field for field in family.action_requires if field not in body]
            if missing:
                raise unprocessable(f"Missing required field(s): {', '.join(missing)}.")
            kind = str(body.get("type", "garbage_collection"))
            return Reply(201, {"action": _action(call, item, kind)})
        for key, value in body.items():
            if key not in family.id_fields:
                item[key] = value
        return Reply(200, {family.item_key: dict(item)})


def _action(call: Call, item: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "id": next(_action_ids),
        "status": "in-progress",
        "type": kind,
        "started_at": iso(call.now),
        "completed_at": None,
        "resource_id": item.get("id"),
        "region_slug": "nyc3",
    }
