"""The scope catalogue, checked against the sandbox's independently researched truth table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from rotator.digitalocean import scopes
from rotator.digitalocean.scopes import (
    ALIASES,
    CATALOGUE,
    COMPANION_SCOPES,
    NIL_UUID,
    SPACES_ROTATION_SCOPES,
    expand_scopes,
    is_scope_name,
    required_scopes,
)
from rotator.sandbox import scopes as truth

PROBED = {name: scope.probe for name, scope in CATALOGUE.items() if scope.probe is not None}
# Alternatives the official spec lists that the sandbox does not (none since the
# sandbox's table is checked against the spec's scope list: test_scope_catalogue_drift).
SPEC_ONLY_ALTERNATIVES: dict[str, set[str]] = {}
# An id no account can hold: the nil UUID, id 0, 0.0.0.0, or a name the API would refuse.
IMPOSSIBLE_ID = re.compile(
    rf"({re.escape(NIL_UUID)}|/0(/|$)|0\.0\.0\.0|rotator[_.-]probe[-_.a-z]*)"
)


def test_the_catalogue_names_exactly_the_documented_scopes():
    assert set(CATALOGUE) | ALIASES == truth.KNOWN_SCOPES


def test_spaces_key_creation_is_create_credentials_not_create():
    assert "spaces_key:create_credentials" in CATALOGUE
    assert "spaces_key:create" not in CATALOGUE


def test_every_probe_reaches_an_endpoint_that_checks_exactly_its_scope():
    for name, probe in PROBED.items():
        endpoint, _, _ = truth.find_endpoint(probe.method, probe.path)
        assert endpoint is not None, (name, probe.method, probe.path)
        alternatives = set(probe.also_unlocked_by)
        assert name in endpoint.scopes, (name, endpoint)
        assert set(endpoint.scopes) - {name} == alternatives - SPEC_ONLY_ALTERNATIVES.get(
            name, set()
        ), name


def test_scopes_without_a_probe_are_the_ones_no_served_endpoint_checks():
    checked = {scope for endpoint in truth.ENDPOINTS for scope in endpoint.scopes}
    unprobed = {name for name, scope in CATALOGUE.items() if scope.probe is None}
    assert unprobed == set(CATALOGUE) - checked


def test_read_probes_are_gets_of_one_item_and_write_probes_send_no_body_to_nothing():
    for name, probe in PROBED.items():
        assert probe.why_safe, name
        if not probe.writes:
            assert probe.method == "GET"
            paginated = probe.params.get("per_page") == 1
            assert paginated or "{" not in probe.path, name
            continue
        assert 200 not in probe.held and 201 not in probe.held, name
        if probe.method == "POST" and IMPOSSIBLE_ID.search(probe.path) is None:
            # A create: only the missing body stops it, so the path is the bare collection.
            assert probe.held <= {400, 422}, name
            assert "body" in probe.why_safe, name
        else:
            assert IMPOSSIBLE_ID.search(probe.path), (name, probe.path)


def test_no_probe_touches_an_endpoint_that_acts_without_an_id():
    dangerous = {
        ("DELETE", "/v2/droplets"),  # destroys Droplets by tag
        ("DELETE", "/v2/registry"),  # deletes the registry
        ("DELETE", "/v2/volumes"),  # deletes a volume by name
    }
    for probe in PROBED.values():
        assert (probe.method, probe.path) not in dangerous
        assert "/default" not in probe.path


def test_the_catalogue_offers_the_safe_probes_of_a_generic_resource():
    droplet_scopes = {name for name in PROBED if name.startswith("droplet:")}
    assert droplet_scopes == {"droplet:read", "droplet:create", "droplet:update", "droplet:delete"}
    assert PROBED["droplet:update"].path == "/v2/droplets/0/actions"


def test_api_read_expands_to_every_read_scope_and_api_write_to_everything():
    assert expand_scopes(["api:read"]) == truth.expand_scopes(["api:read"])
    assert expand_scopes(["api:write"]) == truth.expand_scopes(["api:write"])
    assert expand_scopes(["droplet:read", "future:thing"]) == {"droplet:read", "future:thing"}


def test_scope_names_are_lowercase_resource_colon_action():
    assert is_scope_name("spaces_key:create_credentials")
    for bad in ("droplet", "Droplet:read", ":read", "droplet:", "drop let:read", "a:b:c"):
        assert not is_scope_name(bad), bad


@dataclass
class Sink:
    type: str


@dataclass
class Policy:
    connection: str
    sinks: list[Sink] = field(default_factory=lambda: [Sink("vault")])

    def rotation_scopes(self) -> frozenset[str]:
        return SPACES_ROTATION_SCOPES


def test_a_connection_without_policies_needs_only_account_read():
    assert required_scopes("prod", []) == {"account:read"}


def test_a_policy_needs_the_three_spaces_key_scopes():
    assert required_scopes("prod", [Policy("prod")]) == {
        "account:read",
        "spaces_key:read",
        "spaces_key:create_credentials",
        "spaces_key:delete",
    }


def test_an_app_platform_sink_adds_app_read_and_update_and_extra_scopes_are_kept():
    policies = [Policy("prod", [Sink("vault"), Sink("app_platform")]), Policy("other")]
    needed = required_scopes("prod", policies, ["droplet:read"])
    assert {"app:read", "app:update", "droplet:read", "spaces_key:delete"} <= needed


def test_another_connections_policy_adds_nothing():
    assert required_scopes("prod", [Policy("staging", [Sink("app_platform")])]) == {"account:read"}


def test_settings_policies_fit_required_scopes():
    from rotator.settings import parse_config

    config = parse_config(
        {
            "policies": [
                {
                    "name": "media",
                    "connection": "prod",
                    "spaces_key": "DO00EXAMPLE",
                    "sinks": [
                        {
                            "type": "app_platform",
                            "app_id": "app",
                            "access_key_env": "K",
                            "secret_key_env": "S",
                        }
                    ],
                }
            ]
        }
    )
    assert "app:update" in required_scopes("prod", config.policies)


@pytest.mark.parametrize("companion", sorted(COMPANION_SCOPES))
def test_companion_scopes_are_documented_read_scopes(companion):
    assert companion in scopes.READ_SCOPES
