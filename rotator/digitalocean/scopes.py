"""DigitalOcean's token scopes, the ones rotator needs, and a safe probe for each.

Scopes are ``resource:action`` (docs.digitalocean.com/reference/api/scopes,
and each operation's ``security: bearer_auth`` in the official OpenAPI spec,
github.com/digitalocean/openapi). Two alias scopes stand for many:
``api:read`` is every read scope, ``api:write`` is every scope (full access).
The control panel will not add a non-read scope without its resource's read
scope, and adds the *companion* scopes ``spaces:read``, ``regions:read``,
``sizes:read`` and ``actions:read`` to any token that touches Spaces keys, so
those are expected on a rotator token and never count as excess.

No public endpoint lists a token's scopes, so each scope may carry a
:class:`Probe`: a request whose status tells whether the token holds the
scope and which cannot change anything. DigitalOcean checks the scope right
after authentication, before it reads a body or looks up an id, so:

* a **read** probe is a ``GET`` of a collection with ``per_page=1``: 200 means
  held, 403 not held;
* a **write** probe is a ``POST`` to a collection **without a body** (the body
  is refused with 400/422 after the scope passed) or a ``PUT``/``PATCH``/
  ``DELETE``/``POST .../actions`` aimed at an id that **cannot exist** (a nil
  UUID, id ``0``, an address or name the API would never accept), answered
  404/400/422 when held. 403 means not held either way.

Each probe says in ``why_safe`` why it cannot change anything. Probes that
must never be written: ``DELETE /v2/droplets`` (destroys Droplets by tag),
``DELETE /v2/registry`` (deletes the registry, no id needed) and anything on
``/v2/projects/default``; none of them appear below.

Scopes without a probe are learned only from the token-info endpoint: their
endpoints open consoles or return credentials, or the sandbox that rotator's
tests run against cannot yet confirm how the probe is answered.

The module is long on purpose: most of it is :data:`CATALOGUE`, one entry per
scope with its probe and the reason the probe is safe, kept in one place so
the catalogue reads as the specification it is (a test checks it against
DigitalOcean's published spec).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rotator.digitalocean.scopes_more import UNPROBED

FULL_ACCESS = "api:write"
READ_ONLY = "api:read"
ALIASES = frozenset({FULL_ACCESS, READ_ONLY})

ACCOUNT_READ = "account:read"
SPACES_ROTATION_SCOPES = frozenset(
    {"spaces_key:read", "spaces_key:create_credentials", "spaces_key:delete"}
)
APP_PLATFORM_SCOPES = frozenset({"app:read", "app:update"})
COMPANION_SCOPES = frozenset({"spaces:read", "regions:read", "sizes:read", "actions:read"})
"""Added by the control panel next to Spaces-key scopes: expected, never excess."""

NIL_UUID = "00000000-0000-0000-0000-000000000000"
"""RFC 9562's nil UUID: DigitalOcean never gives it to a resource."""

_LIST_SAFE = "a GET changes nothing; per_page=1 keeps the answer to one item"
_GET_SAFE = "a GET changes nothing"
_NO_BODY = (
    "sent without a body: the scope is checked first, then the missing body is "
    "refused (400/422), so nothing is created"
)


def _id_safe(what: str) -> str:
    return f"aimed at {what}, which no resource can have: answered 404/400/422, nothing changes"


@dataclass(frozen=True)
class Undo:
    """Where the id of what a misfired create made is, and how to delete it."""

    item_key: str
    """The answer's object (``key`` in ``{"key": {...}}``)."""
    id_field: str
    """Its id field (``access_key``)."""
    delete_path: str
    """``DELETE`` this path with the id in place of ``{}``."""


@dataclass(frozen=True)
class Probe:
    """One request that tells whether a token holds a scope, changing nothing."""

    method: str
    path: str
    why_safe: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    held: frozenset[int] = frozenset({200})
    """Statuses that mean "held". 403 always means "not held"; anything else is inconclusive."""
    also_unlocked_by: tuple[str, ...] = ()
    """Other scopes the same operation lists. The spec does not say whether several
    scopes on one operation are alternatives or all required: a "held" answer is
    ambiguous while any of them may be held (under "all" it would prove each), and
    a 403 is read as "not held", the reading that holds under both when no other
    listed scope is held."""
    undo: Undo | None = None
    """How to delete what a create probe made if DigitalOcean ever answered it with 2xx."""

    @property
    def writes(self) -> bool:
        """Whether the probe uses a method that could change something if it misfired."""
        return self.method != "GET"


@dataclass(frozen=True)
class Scope:
    """One ``resource:action`` scope and how to find out whether a token has it."""

    name: str
    description: str
    probe: Probe | None = None

    @property
    def resource(self) -> str:
        return self.name.partition(":")[0]

    @property
    def action(self) -> str:
        return self.name.partition(":")[2]

    @property
    def is_read(self) -> bool:
        return self.action == "read"


def _list(path: str, *, paginated: bool = True) -> Probe:
    params: dict[str, str | int] = {"per_page": 1} if paginated else {}
    why = _LIST_SAFE if paginated else _GET_SAFE
    return Probe("GET", path, why, params)


def _get_missing(path: str, what: str) -> Probe:
    # A read aimed at an id that cannot exist: 404 after the scope passed.
    return Probe("GET", path, f"{_GET_SAFE}; {_id_safe(what)}", held=frozenset({200, 404}))


def _create(path: str, *, also: tuple[str, ...] = (), undo: Undo | None = None) -> Probe:
    return Probe(
        "POST", path, _NO_BODY, held=frozenset({400, 422}), also_unlocked_by=also, undo=undo
    )


def _aimed(method: str, path: str, what: str, *, also: tuple[str, ...] = ()) -> Probe:
    return Probe(
        method,
        path,
        _id_safe(what) + " (and no body is sent)",
        held=frozenset({400, 404, 422}),
        also_unlocked_by=also,
    )


_UUID = f"the nil UUID {NIL_UUID}"
_ZERO = "id 0 (ids start at 1)"


def _crud(
    resource: str,
    noun: str,
    collection: str,
    item: str | None,
    *,
    what: str = _UUID,
    update: str | None = "PUT",
    update_path: str | None = None,
    delete: bool = True,
    paginated: bool = True,
) -> list[Scope]:
    """The usual four scopes of a resource whose item paths take one id."""
    scopes = [
        Scope(f"{resource}:read", f"View {noun}", _list(collection, paginated=paginated)),
        Scope(f"{resource}:create", f"Create {noun}", _create(collection)),
    ]
    if update is not None:
        target = update_path or item
        assert target is not None
        scopes.append(Scope(f"{resource}:update", f"Modify {noun}", _aimed(update, target, what)))
    if delete:
        assert item is not None
        scopes.append(Scope(f"{resource}:delete", f"Delete {noun}", _aimed("DELETE", item, what)))
    return scopes


_SCOPES: list[Scope] = [
    Scope(ACCOUNT_READ, "View user account details", Probe("GET", "/v2/account", _GET_SAFE)),
    Scope("actions:read", "View events of shared resources", _list("/v2/actions")),
    # Marketplace add-ons: the sandbox does not serve /v2/add-ons yet (token info only).
    Scope("addon:read", "View marketplace add-on resources"),
    Scope("addon:create", "Create marketplace add-on resources"),
    Scope("addon:update", "Modify marketplace add-on resources"),
    Scope("addon:delete", "Delete marketplace add-on resources"),
    *_crud("app", "App Platform apps", "/v2/apps", f"/v2/apps/{NIL_UUID}"),
    # Opens a shell in a running app: no request can ask about it harmlessly.
    Scope("app:access_console", "Access the console of App Platform apps"),
    Scope(
        "billing:read",
        "View billing and invoice information",
        _list("/v2/customers/my/balance", paginated=False),
    ),
    *_crud(
        "block_storage",
        "Block Storage volumes",
        "/v2/volumes",
        f"/v2/volumes/{NIL_UUID}",
        update=None,
    ),
    # Volume history (GET /v2/volumes/{id}/actions) is not served by the sandbox.
    Scope("block_storage_action:read", "View Block Storage volume history"),
    Scope(
        "block_storage_action:create",
        "Attach and detach Block Storage volumes",
        _aimed("POST", f"/v2/volumes/{NIL_UUID}/actions", _UUID),
    ),
    Scope(
        "block_storage_snapshot:read",
        "View Block Storage volume snapshots",
        _get_missing(f"/v2/volumes/snapshots/{NIL_UUID}", _UUID),
    ),
    # POST /v2/volumes/{id}/snapshots is not served by the sandbox.
    Scope("block_storage_snapshot:create", "Create Block Storage volume snapshots"),
    Scope(
        "block_storage_snapshot:delete",
        "Delete Block Storage volume snapshots",
        _aimed("DELETE", f"/v2/volumes/snapshots/{NIL_UUID}", _UUID),
    ),
    *_crud("cdn", "CDN endpoints", "/v2/cdn/endpoints", f"/v2/cdn/endpoints/{NIL_UUID}"),
    *_crud(
        "certificate",
        "SSL certificates",
        "/v2/certificates",
        f"/v2/certificates/{NIL_UUID}",
        update=None,
    ),
    *_crud(
        "database",
        "managed databases",
        "/v2/databases",
        f"/v2/databases/{NIL_UUID}",
        update_path=f"/v2/databases/{NIL_UUID}/resize",
        # The spec gives this list no page parameters: it always answers in full.
        paginated=False,
    ),
    # Its endpoints return database credentials: never probed.
    Scope("database:view_credentials", "View managed database credentials"),
    *_crud(
        "domain",
        "domains and DNS records",
        "/v2/domains",
        "/v2/domains/rotator_probe.invalid",
        # An underscore is not allowed in a domain name and .invalid is never delegated.
        what="the domain rotator_probe.invalid (not a valid domain name)",
        update_path="/v2/domains/rotator_probe.invalid/records/0",
    ),
    *_crud(
        "droplet",
        "Droplets",
        "/v2/droplets",
        "/v2/droplets/0",
        what=_ZERO,
        update="POST",
        # droplet:update is the actions endpoint (power, resize, ...); there is no PUT.
        update_path="/v2/droplets/0/actions",
    ),
    # Grants console and recovery access; no API request asks about it.
    Scope("droplet:admin", "Access Droplet consoles and recovery"),
    *_crud("firewall", "cloud firewalls", "/v2/firewalls", f"/v2/firewalls/{NIL_UUID}"),
    Scope(
        "function:read",
        "View Serverless function namespaces and triggers",
        Probe(
            "GET",
            "/v2/functions/namespaces",
            _GET_SAFE,
            also_unlocked_by=("function:admin",),
        ),
    ),
    Scope(
        "function:create",
        "Create Serverless function namespaces and triggers",
        _create("/v2/functions/namespaces", also=("function:admin",)),
    ),
    # Trigger updates (PUT .../triggers/{name}) are not served by the sandbox.
    Scope("function:update", "Modify Serverless function triggers"),
    Scope(
        "function:delete",
        "Delete Serverless function namespaces and triggers",
        _aimed(
            "DELETE",
            f"/v2/functions/namespaces/fn-{NIL_UUID}",
            f"the namespace fn-{NIL_UUID}",
            also=("function:admin",),
        ),
    ),
    Scope(
        "function:admin",
        "Administer Serverless functions (namespace access keys)",
        # The namespace's key list checks function:admin alone and documents only
        # 404 for a missing namespace (GET .../namespaces/{id} documents an
        # unrelated 403, so it cannot tell a missing scope apart).
        _get_missing(
            f"/v2/functions/namespaces/fn-{NIL_UUID}/keys", f"the namespace fn-{NIL_UUID}"
        ),
    ),
    Scope(
        "genai:read",
        "View GenAI (Gradient) agents and their API keys",
        _get_missing(f"/v2/gen-ai/agents/{NIL_UUID}/api_keys", _UUID),
    ),
    Scope(
        "genai:create",
        "Create GenAI agents and their API keys",
        _aimed("POST", f"/v2/gen-ai/agents/{NIL_UUID}/api_keys", _UUID),
    ),
    Scope(
        "genai:update",
        "Modify GenAI agents and their API keys",
        _aimed("PUT", f"/v2/gen-ai/agents/{NIL_UUID}/api_keys/{NIL_UUID}", _UUID),
    ),
    Scope(
        "genai:delete",
        "Delete GenAI agents and their API keys",
        _aimed("DELETE", f"/v2/gen-ai/agents/{NIL_UUID}/api_keys/{NIL_UUID}", _UUID),
    ),
    *_crud("image", "images", "/v2/images", "/v2/images/0", what=_ZERO),
    *_crud(
        "kubernetes",
        "Kubernetes clusters",
        "/v2/kubernetes/clusters",
        f"/v2/kubernetes/clusters/{NIL_UUID}",
    ),
    # Returns a kubeconfig with credentials: never probed.
    Scope("kubernetes:access_cluster", "Access Kubernetes clusters (kubeconfig, credentials)"),
    *_crud(
        "load_balancer", "load balancers", "/v2/load_balancers", f"/v2/load_balancers/{NIL_UUID}"
    ),
    *_crud(
        "monitoring",
        "monitoring alert policies",
        "/v2/monitoring/alerts",
        f"/v2/monitoring/alerts/{NIL_UUID}",
    ),
    # Never /v2/projects/default: that id exists in every account.
    *_crud("project", "projects", "/v2/projects", f"/v2/projects/{NIL_UUID}", update="PATCH"),
    # POST /v2/projects/{id}/resources is not served by the sandbox.
    Scope("project:assign_resource", "Assign resources to projects"),
    Scope("regions:read", "View data center regions", _list("/v2/regions")),
    Scope(
        "registry:read",
        "View container registries",
        # /v2/registry is deprecated and may answer 412 when an account has several.
        _list("/v2/registries", paginated=False),
    ),
    Scope(
        "registry:create",
        "Create container registries",
        _create(
            "/v2/registries",
            undo=Undo("registry", "name", "/v2/registries/{}"),
        ),
    ),
    Scope(
        "registry:update",
        "Modify container registries (garbage collection, subscription)",
        # Registry names allow no underscore, so no registry can be garbage-collected by this.
        _aimed(
            "POST",
            "/v2/registries/rotator_probe_does_not_exist/garbage-collection",
            "the registry rotator_probe_does_not_exist (not a valid registry name)",
        ),
    ),
    Scope(
        "registry:delete",
        "Delete the container registry",
        # Never DELETE /v2/registry: it deletes the account's registry without a name.
        _aimed(
            "DELETE",
            "/v2/registries/rotator_probe_does_not_exist",
            "the registry rotator_probe_does_not_exist (not a valid registry name)",
        ),
    ),
    *_crud(
        "reserved_ip",
        "reserved IPs",
        "/v2/reserved_ips",
        "/v2/reserved_ips/0.0.0.0",
        what="the address 0.0.0.0, which is never a reserved IP",
        update="POST",
        update_path="/v2/reserved_ips/0.0.0.0/actions",
    ),
    Scope(
        "sizes:read",
        "View Droplet plan sizes",
        Probe(
            "GET",
            "/v2/sizes",
            _LIST_SAFE,
            {"per_page": 1},
            also_unlocked_by=("regions:read",),
        ),
    ),
    Scope("snapshot:read", "View snapshots", _list("/v2/snapshots")),
    Scope(
        "snapshot:delete",
        "Delete snapshots",
        _aimed("DELETE", "/v2/snapshots/0", _ZERO, also=("image:delete",)),
    ),
    # Buckets live behind the S3 API, not /v2: nothing to probe.
    Scope("spaces:read", "View Spaces buckets"),
    Scope("spaces_key:read", "View Spaces access keys", _list("/v2/spaces/keys")),
    Scope(
        "spaces_key:create_credentials",
        "Create Spaces access keys and view their secret",
        # With a body this would mint a real key: the probe must never carry one.
        _create("/v2/spaces/keys", undo=Undo("key", "access_key", "/v2/spaces/keys/{}")),
    ),
    Scope(
        "spaces_key:update",
        "Rename Spaces access keys",
        _aimed(
            "PATCH",
            "/v2/spaces/keys/rotator-probe-does-not-exist",
            "the access key rotator-probe-does-not-exist (keys are DO + 18 capitals and digits)",
        ),
    ),
    Scope(
        "spaces_key:delete",
        "Delete Spaces access keys",
        _aimed(
            "DELETE",
            "/v2/spaces/keys/rotator-probe-does-not-exist",
            "the access key rotator-probe-does-not-exist (keys are DO + 18 capitals and digits)",
        ),
    ),
    *_crud("ssh_key", "SSH keys", "/v2/account/keys", "/v2/account/keys/0", what=_ZERO),
    *_crud(
        "tag",
        "tags",
        "/v2/tags",
        "/v2/tags/rotator.probe.does.not.exist",
        # Tag names allow letters, digits, '-', '_' and ':' only.
        what="the tag rotator.probe.does.not.exist (dots are not allowed in tag names)",
        update=None,
    ),
    *_crud("uptime", "uptime checks", "/v2/uptime/checks", f"/v2/uptime/checks/{NIL_UUID}"),
    *_crud("vpc", "VPC networks", "/v2/vpcs", f"/v2/vpcs/{NIL_UUID}", update="PATCH"),
]

_SCOPES += [Scope(name, description) for name, description in UNPROBED]

CATALOGUE: dict[str, Scope] = {scope.name: scope for scope in _SCOPES}
"""Every ``resource:action`` scope rotator knows, by name (aliases excluded)."""

KNOWN_SCOPES: frozenset[str] = frozenset(CATALOGUE)
READ_SCOPES: frozenset[str] = frozenset(name for name, s in CATALOGUE.items() if s.is_read)
"""What ``api:read`` stands for."""


def is_scope_name(text: str) -> bool:
    """Whether *text* is shaped like a scope (``resource:action``, lowercase)."""
    resource, colon, action = text.partition(":")
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789_")
    return bool(colon and resource and action) and set(resource + action) <= allowed


def expand_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes a token holds once its aliases are expanded (aliases kept).

    ``api:write`` is every catalogued scope, ``api:read`` every read scope;
    names rotator does not know are kept as they are.
    """
    held = set(scopes)
    if FULL_ACCESS in held:
        held |= KNOWN_SCOPES | {READ_ONLY}
    if READ_ONLY in held:
        held |= READ_SCOPES
    return frozenset(held)


class _Sink(Protocol):
    @property
    def type(self) -> str: ...


class _Policy(Protocol):
    """What :func:`required_scopes` reads from a policy (``settings.PolicyConfig``)."""

    @property
    def connection(self) -> str: ...

    @property
    def sinks(self) -> Sequence[_Sink]: ...

    def rotation_scopes(self) -> frozenset[str]:
        """The scopes rotating the policy's credential kind takes."""
        ...


def required_scopes(
    connection_name: str, policies: Iterable[_Policy], extra_scopes: Iterable[str] = ()
) -> frozenset[str]:
    """The scopes a connection's token needs for what rotator does with it.

    ``account:read`` (validation), the scopes of each credential kind a policy
    rotates with this connection (the Spaces-key scopes for ``spaces_key``),
    ``app:read`` and ``app:update`` when one of those
    policies pushes into App Platform, and the connection's ``extra_scopes``.
    """
    needed = {ACCOUNT_READ, *extra_scopes}
    for policy in policies:
        if policy.connection != connection_name:
            continue
        needed |= policy.rotation_scopes()
        if any(sink.type == "app_platform" for sink in policy.sinks):
            needed |= APP_PLATFORM_SCOPES
    return frozenset(needed)
