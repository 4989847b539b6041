"""Which scope each sandbox endpoint needs: the one table the sandbox enforces.

The rows copy DigitalOcean's official OpenAPI spec (digitalocean/openapi,
``specification/``): each operation there lists its scopes under
``security: bearer_auth``. Where an operation lists several, any one of them
is enough (``GET /v2/volumes`` lists ``api:read``, ``api:write`` and
``block_storage:read``), so :attr:`Endpoint.scopes` is an *any of* tuple whose
first member is the canonical scope. An empty tuple means "any valid token"
(the OAuth token-info endpoint).

Rotator's scope audit and its tests read this module as the truth about the
sandbox: :data:`ENDPOINTS`, :data:`KNOWN_SCOPES`, :func:`expand_scopes`,
:func:`find_endpoint` and :func:`endpoints_for_scope`.

The module is long on purpose: most of it is the table itself, one row per
endpoint as the spec lists it, and the few functions that read it sit right
below it so a row and the rule that interprets it are read together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FULL_ACCESS = "api:write"
READ_ONLY = "api:read"

# method, path, scopes ("a|b": any of them; "": any valid token), upstream operationId
Row = tuple[str, str, str, str]


@dataclass(frozen=True)
class Endpoint:
    """One method on one path, the scopes that unlock it and how it is served."""

    method: str
    path: str
    scopes: tuple[str, ...]
    operation: str
    """The upstream ``operationId`` (or a sandbox name where there is none)."""
    family: str | None = None
    """For the generic resources: the family in :mod:`rotator.sandbox.resources`."""
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        object.__setattr__(self, "pattern", re.compile(regex))

    @property
    def scope(self) -> str | None:
        """The canonical scope, or None when any valid token will do."""
        return self.scopes[0] if self.scopes else None

    @property
    def action(self) -> str:
        """What the call does: list, get, create, update, action or delete."""
        has_id = "{" in self.path
        if self.method == "GET":
            return "get" if has_id else "list"
        if self.method == "POST":
            return "action" if has_id else "create"
        return "delete" if self.method == "DELETE" else "update"

    @property
    def literal_segments(self) -> int:
        """How many path segments are literal: more literal means more specific."""
        return sum(1 for part in self.path.split("/") if part and not part.startswith("{"))


# Served by dedicated handlers (account, token info, Spaces keys, apps).
_SPECIFIC: tuple[Row, ...] = (
    ("GET", "/v2/account", "account:read", "account_get"),
    ("GET", "/v1/oauth/token/info", "", "oauth_token_info"),
    ("POST", "/v1/oauth/revoke", "", "oauth_revoke"),
    ("GET", "/v2/spaces/keys", "spaces_key:read", "spacesKey_list"),
    ("POST", "/v2/spaces/keys", "spaces_key:create_credentials", "spacesKey_create"),
    ("GET", "/v2/spaces/keys/{access_key}", "spaces_key:read", "spacesKey_get"),
    ("PUT", "/v2/spaces/keys/{access_key}", "spaces_key:update", "spacesKey_update"),
    ("PATCH", "/v2/spaces/keys/{access_key}", "spaces_key:update", "spacesKey_patch"),
    ("DELETE", "/v2/spaces/keys/{access_key}", "spaces_key:delete", "spacesKey_delete"),
    ("GET", "/v2/apps", "app:read", "apps_list"),
    ("POST", "/v2/apps", "app:create", "apps_create"),
    ("POST", "/v2/apps/propose", "app:read", "apps_validate_appSpec"),
    ("GET", "/v2/apps/{id}", "app:read", "apps_get"),
    ("PUT", "/v2/apps/{id}", "app:update", "apps_update"),
    ("DELETE", "/v2/apps/{id}", "app:delete", "apps_delete"),
    ("GET", "/v2/apps/{app_id}/deployments", "app:read", "apps_list_deployments"),
    ("POST", "/v2/apps/{app_id}/deployments", "app:update", "apps_create_deployment"),
    ("GET", "/v2/apps/{app_id}/deployments/{deployment_id}", "app:read", "apps_get_deployment"),
    (
        "POST",
        "/v2/apps/{app_id}/deployments/{deployment_id}/cancel",
        "app:update",
        "apps_cancel_deployment",
    ),
    # Functions namespace keys: function:admin only (functions_*_key.yml).
    *(
        (method, path, "function:admin", f"functionsAccessKey_{operation}")
        for method, path, operation in (
            ("GET", "/v2/functions/namespaces/{namespace_id}/keys", "list"),
            ("POST", "/v2/functions/namespaces/{namespace_id}/keys", "create"),
            ("PUT", "/v2/functions/namespaces/{namespace_id}/keys/{key_id}", "update"),
            ("DELETE", "/v2/functions/namespaces/{namespace_id}/keys/{key_id}", "delete"),
        )
    ),
    (
        "GET",
        "/v2/registries/{registry_name}/docker-credentials",
        "registry:read|registry:update",
        "registries_get_dockerCredentials",
    ),
    # Managed database users (databases_*_user.yml, databases_reset_auth.yml).
    ("GET", "/v2/databases/{database_cluster_uuid}/users", "database:read", "databases_list_users"),
    (
        "POST",
        "/v2/databases/{database_cluster_uuid}/users",
        "database:create",
        "databases_add_user",
    ),
    (
        "GET",
        "/v2/databases/{database_cluster_uuid}/users/{username}",
        "database:read",
        "databases_get_user",
    ),
    (
        "DELETE",
        "/v2/databases/{database_cluster_uuid}/users/{username}",
        "database:delete",
        "databases_delete_user",
    ),
    (
        "POST",
        "/v2/databases/{database_cluster_uuid}/users/{username}/reset_auth",
        "database:update",
        "databases_reset_auth",
    ),
    ("GET", "/v2/gen-ai/agents/{agent_uuid}/api_keys", "genai:read", "genai_list_agent_api_keys"),
    (
        "POST",
        "/v2/gen-ai/agents/{agent_uuid}/api_keys",
        "genai:create",
        "genai_create_agent_api_key",
    ),
    (
        "PUT",
        "/v2/gen-ai/agents/{agent_uuid}/api_keys/{api_key_uuid}",
        "genai:update",
        "genai_update_agent_api_key",
    ),
    (
        "DELETE",
        "/v2/gen-ai/agents/{agent_uuid}/api_keys/{api_key_uuid}",
        "genai:delete",
        "genai_delete_agent_api_key",
    ),
)

# Generic resources (rotator/sandbox/resources.py), grouped by family. Where a
# resource has no PUT/PATCH, its update scope is probed through the real
# action endpoint upstream lists for it (droplet:update → POST .../actions).
_GENERIC: dict[str, tuple[Row, ...]] = {
    "ssh_keys": (
        ("GET", "/v2/account/keys", "ssh_key:read", "sshKeys_list"),
        ("POST", "/v2/account/keys", "ssh_key:create", "sshKeys_create"),
        ("GET", "/v2/account/keys/{ssh_key_identifier}", "ssh_key:read", "sshKeys_get"),
        ("PUT", "/v2/account/keys/{ssh_key_identifier}", "ssh_key:update", "sshKeys_update"),
        ("DELETE", "/v2/account/keys/{ssh_key_identifier}", "ssh_key:delete", "sshKeys_delete"),
    ),
    "actions": (
        ("GET", "/v2/actions", "actions:read", "actions_list"),
        ("GET", "/v2/actions/{action_id}", "actions:read", "actions_get"),
    ),
    "cdn_endpoints": (
        ("GET", "/v2/cdn/endpoints", "cdn:read", "cdn_list_endpoints"),
        ("POST", "/v2/cdn/endpoints", "cdn:create", "cdn_create_endpoint"),
        ("GET", "/v2/cdn/endpoints/{cdn_id}", "cdn:read", "cdn_get_endpoint"),
        ("PUT", "/v2/cdn/endpoints/{cdn_id}", "cdn:update", "cdn_update_endpoints"),
        ("DELETE", "/v2/cdn/endpoints/{cdn_id}", "cdn:delete", "cdn_delete_endpoint"),
    ),
    "certificates": (
        ("GET", "/v2/certificates", "certificate:read", "certificates_list"),
        ("POST", "/v2/certificates", "certificate:create", "certificates_create"),
        ("GET", "/v2/certificates/{certificate_id}", "certificate:read", "certificates_get"),
        (
            "DELETE",
            "/v2/certificates/{certificate_id}",
            "certificate:delete",
            "certificates_delete",
        ),
    ),
    "databases": (
        ("GET", "/v2/databases", "database:read", "databases_list_clusters"),
        ("POST", "/v2/databases", "database:create", "databases_create_cluster"),
        ("GET", "/v2/databases/{database_cluster_uuid}", "database:read", "databases_get_cluster"),
        (
            "PUT",
            "/v2/databases/{database_cluster_uuid}/resize",
            "database:update",
            "databases_update_clusterSize",
        ),
        (
            "DELETE",
            "/v2/databases/{database_cluster_uuid}",
            "database:delete",
            "databases_destroy_cluster",
        ),
    ),
    "domains": (
        ("GET", "/v2/domains", "domain:read", "domains_list"),
        ("POST", "/v2/domains", "domain:create", "domains_create"),
        ("GET", "/v2/domains/{domain_name}", "domain:read", "domains_get"),
        (
            "PUT",
            "/v2/domains/{domain_name}/records/{domain_record_id}",
            "domain:update",
            "domains_update_record",
        ),
        (
            "PATCH",
            "/v2/domains/{domain_name}/records/{domain_record_id}",
            "domain:update",
            "domains_patch_record",
        ),
        ("DELETE", "/v2/domains/{domain_name}", "domain:delete", "domains_delete"),
    ),
    "droplets": (
        ("GET", "/v2/droplets", "droplet:read", "droplets_list"),
        ("POST", "/v2/droplets", "droplet:create", "droplets_create"),
        ("GET", "/v2/droplets/{droplet_id}", "droplet:read", "droplets_get"),
        ("POST", "/v2/droplets/{droplet_id}/actions", "droplet:update", "dropletActions_post"),
        ("DELETE", "/v2/droplets/{droplet_id}", "droplet:delete", "droplets_destroy"),
    ),
    "firewalls": (
        ("GET", "/v2/firewalls", "firewall:read", "firewalls_list"),
        ("POST", "/v2/firewalls", "firewall:create", "firewalls_create"),
        ("GET", "/v2/firewalls/{firewall_id}", "firewall:read", "firewalls_get"),
        ("PUT", "/v2/firewalls/{firewall_id}", "firewall:update", "firewalls_update"),
        ("DELETE", "/v2/firewalls/{firewall_id}", "firewall:delete", "firewalls_delete"),
    ),
    "images": (
        ("GET", "/v2/images", "image:read", "images_list"),
        ("POST", "/v2/images", "image:create", "images_create_custom"),
        ("GET", "/v2/images/{image_id}", "image:read", "images_get"),
        ("PUT", "/v2/images/{image_id}", "image:update", "images_update"),
        ("DELETE", "/v2/images/{image_id}", "image:delete", "images_delete"),
    ),
    "kubernetes_clusters": (
        ("GET", "/v2/kubernetes/clusters", "kubernetes:read", "kubernetes_list_clusters"),
        ("POST", "/v2/kubernetes/clusters", "kubernetes:create", "kubernetes_create_cluster"),
        (
            "GET",
            "/v2/kubernetes/clusters/{cluster_id}",
            "kubernetes:read",
            "kubernetes_get_cluster",
        ),
        (
            "PUT",
            "/v2/kubernetes/clusters/{cluster_id}",
            "kubernetes:update",
            "kubernetes_update_cluster",
        ),
        (
            "DELETE",
            "/v2/kubernetes/clusters/{cluster_id}",
            "kubernetes:delete",
            "kubernetes_delete_cluster",
        ),
    ),
    "load_balancers": (
        ("GET", "/v2/load_balancers", "load_balancer:read", "loadBalancers_list"),
        ("POST", "/v2/load_balancers", "load_balancer:create", "loadBalancers_create"),
        ("GET", "/v2/load_balancers/{lb_id}", "load_balancer:read", "loadBalancers_get"),
        ("PUT", "/v2/load_balancers/{lb_id}", "load_balancer:update", "loadBalancers_update"),
        ("DELETE", "/v2/load_balancers/{lb_id}", "load_balancer:delete", "loadBalancers_delete"),
    ),
    "monitoring_alerts": (
        ("GET", "/v2/monitoring/alerts", "monitoring:read", "monitoring_list_alertPolicy"),
        ("POST", "/v2/monitoring/alerts", "monitoring:create", "monitoring_create_alertPolicy"),
        (
            "GET",
            "/v2/monitoring/alerts/{alert_uuid}",
            "monitoring:read",
            "monitoring_get_alertPolicy",
        ),
        (
            "PUT",
            "/v2/monitoring/alerts/{alert_uuid}",
            "monitoring:update",
            "monitoring_update_alertPolicy",
        ),
        (
            "DELETE",
            "/v2/monitoring/alerts/{alert_uuid}",
            "monitoring:delete",
            "monitoring_delete_alertPolicy",
        ),
    ),
    "projects": (
        ("GET", "/v2/projects", "project:read", "projects_list"),
        ("POST", "/v2/projects", "project:create", "projects_create"),
        ("GET", "/v2/projects/{project_id}", "project:read", "projects_get"),
        ("PUT", "/v2/projects/{project_id}", "project:update", "projects_update"),
        ("PATCH", "/v2/projects/{project_id}", "project:update", "projects_patch"),
        ("DELETE", "/v2/projects/{project_id}", "project:delete", "projects_delete"),
    ),
    "regions": (("GET", "/v2/regions", "regions:read", "regions_list"),),
    "registries": (
        ("GET", "/v2/registry", "registry:read", "registry_get"),
        ("POST", "/v2/registry", "registry:create", "registry_create"),
        (
            "POST",
            "/v2/registry/{registry_name}/garbage-collection",
            "registry:update",
            "registry_run_garbageCollection",
        ),
        ("DELETE", "/v2/registries/{registry_name}", "registry:delete", "registries_delete"),
    ),
    # The same registries through the current, plural paths (/v2/registry is deprecated).
    "registries_all": (
        ("GET", "/v2/registries", "registry:read", "registries_list"),
        ("GET", "/v2/registries/{registry_name}", "registry:read", "registries_get"),
        ("POST", "/v2/registries", "registry:create", "registries_create"),
        (
            "POST",
            "/v2/registries/{registry_name}/garbage-collection",
            "registry:update",
            "registries_run_garbageCollection",
        ),
    ),
    "reserved_ips": (
        ("GET", "/v2/reserved_ips", "reserved_ip:read", "reservedIPs_list"),
        ("POST", "/v2/reserved_ips", "reserved_ip:create", "reservedIPs_create"),
        ("GET", "/v2/reserved_ips/{reserved_ip}", "reserved_ip:read", "reservedIPs_get"),
        (
            "POST",
            "/v2/reserved_ips/{reserved_ip}/actions",
            "reserved_ip:update",
            "reservedIPsActions_post",
        ),
        ("DELETE", "/v2/reserved_ips/{reserved_ip}", "reserved_ip:delete", "reservedIPs_delete"),
    ),
    "snapshots": (
        ("GET", "/v2/snapshots", "snapshot:read", "snapshots_list"),
        # The spec lists two scopes on each of these (any one opens it here).
        (
            "GET",
            "/v2/snapshots/{snapshot_id}",
            "snapshot:read|block_storage_snapshot:read",
            "snapshots_get",
        ),
        (
            "DELETE",
            "/v2/snapshots/{snapshot_id}",
            "snapshot:delete|image:delete",
            "snapshots_delete",
        ),
    ),
    "tags": (
        ("GET", "/v2/tags", "tag:read", "tags_list"),
        ("POST", "/v2/tags", "tag:create", "tags_create"),
        ("GET", "/v2/tags/{tag_id}", "tag:read", "tags_get"),
        ("DELETE", "/v2/tags/{tag_id}", "tag:delete", "tags_delete"),
    ),
    "uptime_checks": (
        ("GET", "/v2/uptime/checks", "uptime:read", "uptime_list_checks"),
        ("POST", "/v2/uptime/checks", "uptime:create", "uptime_create_check"),
        ("GET", "/v2/uptime/checks/{check_id}", "uptime:read", "uptime_get_check"),
        ("PUT", "/v2/uptime/checks/{check_id}", "uptime:update", "uptime_update_check"),
        ("DELETE", "/v2/uptime/checks/{check_id}", "uptime:delete", "uptime_delete_check"),
    ),
    "volumes": (
        ("GET", "/v2/volumes", "block_storage:read", "volumes_list"),
        ("POST", "/v2/volumes", "block_storage:create", "volumes_create"),
        ("GET", "/v2/volumes/{volume_id}", "block_storage:read", "volumes_get"),
        ("DELETE", "/v2/volumes/{volume_id}", "block_storage:delete", "volumes_delete"),
        (
            "POST",
            "/v2/volumes/{volume_id}/actions",
            "block_storage_action:create",
            "volumeActions_post_byId",
        ),
    ),
    "volume_snapshots": (
        (
            "GET",
            "/v2/volumes/snapshots/{snapshot_id}",
            "block_storage_snapshot:read",
            "volumeSnapshots_get_byId",
        ),
        (
            "DELETE",
            "/v2/volumes/snapshots/{snapshot_id}",
            "block_storage_snapshot:delete",
            "volumeSnapshots_delete_byId",
        ),
    ),
    "vpcs": (
        ("GET", "/v2/vpcs", "vpc:read", "vpcs_list"),
        ("POST", "/v2/vpcs", "vpc:create", "vpcs_create"),
        ("GET", "/v2/vpcs/{vpc_id}", "vpc:read", "vpcs_get"),
        ("PUT", "/v2/vpcs/{vpc_id}", "vpc:update", "vpcs_update"),
        ("PATCH", "/v2/vpcs/{vpc_id}", "vpc:update", "vpcs_patch"),
        ("DELETE", "/v2/vpcs/{vpc_id}", "vpc:delete", "vpcs_delete"),
    ),
    "sizes": (("GET", "/v2/sizes", "sizes:read|regions:read", "sizes_list"),),
    "balance": (("GET", "/v2/customers/my/balance", "billing:read", "balance_get"),),
    "function_namespaces": (
        (
            "GET",
            "/v2/functions/namespaces",
            "function:read|function:admin",
            "functions_list_namespaces",
        ),
        (
            "POST",
            "/v2/functions/namespaces",
            "function:create|function:admin",
            "functions_create_namespace",
        ),
        (
            "GET",
            "/v2/functions/namespaces/{namespace_id}",
            "function:admin",
            "functions_get_namespace",
        ),
        (
            "DELETE",
            "/v2/functions/namespaces/{namespace_id}",
            "function:delete|function:admin",
            "functions_delete_namespace",
        ),
    ),
}


def _endpoint(row: Row, family: str | None = None) -> Endpoint:
    method, path, scopes, operation = row
    return Endpoint(method, path, tuple(s for s in scopes.split("|") if s), operation, family)


ENDPOINTS: tuple[Endpoint, ...] = (
    *(_endpoint(row) for row in _SPECIFIC),
    *(_endpoint(row, family) for family, rows in _GENERIC.items() for row in rows),
)
"""Every endpoint the sandbox serves, with the scopes that unlock it."""

# From https://docs.digitalocean.com/reference/api/scopes/ and the upstream spec.
_VOCABULARY = """
    account:read actions:read addon:create addon:delete addon:read addon:update
    api:read api:write app:access_console app:create app:delete app:read app:update billing:read
    block_storage:create block_storage:delete block_storage:read
    block_storage_action:create block_storage_action:read
    block_storage_snapshot:create block_storage_snapshot:delete block_storage_snapshot:read
    cdn:create cdn:delete cdn:read cdn:update
    certificate:create certificate:delete certificate:read
    database:create database:delete database:read database:update database:view_credentials
    domain:create domain:delete domain:read domain:update
    droplet:admin droplet:create droplet:delete droplet:read droplet:update
    firewall:create firewall:delete firewall:read firewall:update
    function:admin function:create function:delete function:read function:update
    genai:create genai:delete genai:read genai:update
    image:create image:delete image:read image:update
    kubernetes:access_cluster kubernetes:create kubernetes:delete kubernetes:read kubernetes:update
    load_balancer:create load_balancer:delete load_balancer:read load_balancer:update
    monitoring:create monitoring:delete monitoring:read monitoring:update
    project:assign_resource project:create project:delete project:read project:update
    regions:read registry:create registry:delete registry:read registry:update
    reserved_ip:create reserved_ip:delete reserved_ip:read reserved_ip:update sizes:read
    snapshot:delete snapshot:read spaces:read
    spaces_key:create_credentials spaces_key:delete spaces_key:read spaces_key:update
    ssh_key:create ssh_key:delete ssh_key:read ssh_key:update tag:create tag:delete tag:read
    uptime:create uptime:delete uptime:read uptime:update
    vpc:create vpc:delete vpc:read vpc:update
    byoip_prefix:create byoip_prefix:delete byoip_prefix:read byoip_prefix:write database:write
    dedicated_inference:create dedicated_inference:delete dedicated_inference:read
    dedicated_inference:update dedicated_inference_tokens:create
    dedicated_inference_tokens:delete dedicated_inference_tokens:read genai:default
    nat_gateway:create nat_gateway:delete nat_gateway:read nat_gateway:update
    nfs:create nfs:delete nfs:list nfs:read organization:create organization:read
    partner_network_connect:create partner_network_connect:read partner_network_connect:write
    security:create security:delete security:read security:update
    vpc_peering:create vpc_peering:delete vpc_peering:read vpc_peering:update
"""

KNOWN_SCOPES: frozenset[str] = frozenset(_VOCABULARY.split())
"""The scope vocabulary a token may be granted in the sandbox."""

READ_SCOPES: frozenset[str] = frozenset(s for s in KNOWN_SCOPES if s.endswith(":read"))
"""What ``api:read`` stands for: every ``*:read`` scope."""


def expand_scopes(granted: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """The scopes a token really holds once the alias scopes are expanded.

    ``api:write`` is full access (every scope); ``api:read`` is every read scope.
    """
    held = set(granted)
    if FULL_ACCESS in held:
        held |= KNOWN_SCOPES
    if READ_ONLY in held:
        held |= READ_SCOPES
    return frozenset(held)


def unknown_scopes(granted: list[str] | tuple[str, ...]) -> list[str]:
    """The members of ``granted`` that are not DigitalOcean scopes."""
    return sorted(set(granted) - KNOWN_SCOPES)


# Literal paths win over templated ones (/v2/apps/propose before /v2/apps/{id}).
_BY_SPECIFICITY = sorted(ENDPOINTS, key=lambda e: -e.literal_segments)


def find_endpoint(method: str, path: str) -> tuple[Endpoint | None, dict[str, str], list[str]]:
    """The endpoint serving ``method path``, its path parameters, and the methods allowed.

    Returns ``(None, {}, [])`` for an unknown path and ``(None, {}, allowed)``
    when the path exists but not with this method.
    """
    allowed: list[str] = []
    matched_template: str | None = None
    for endpoint in _BY_SPECIFICITY:
        match = endpoint.pattern.fullmatch(path)
        if match is None:
            continue
        if matched_template is not None and endpoint.path != matched_template:
            continue  # a less specific template also matching this path
        matched_template = endpoint.path
        if endpoint.method == method:
            return endpoint, match.groupdict(), []
        allowed.append(endpoint.method)
    return None, {}, sorted(set(allowed))


def endpoints_for_scope(scope: str) -> list[Endpoint]:
    """Every endpoint that the given (non-alias) scope unlocks."""
    return [endpoint for endpoint in ENDPOINTS if scope in endpoint.scopes]
