"""The scope catalogue, and the sandbox's scope table, against the official spec's scope list.

``tests/spec/digitalocean-scopes.json`` is extracted from the official spec
(``python -m tests.spec.extract_scopes``, its commit recorded inside): every
operation with the scopes its ``security: bearer_auth`` lists. When
DigitalOcean adds a scope or moves an endpoint, re-extract it and these
tests say what to change.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rotator.digitalocean.scopes import ALIASES, CATALOGUE, NIL_UUID
from rotator.digitalocean.scopes_more import NOT_IN_SPEC, UNPROBED
from rotator.sandbox import scopes as sandbox_scopes

SCOPES_FILE = Path(__file__).resolve().parents[1] / "spec" / "digitalocean-scopes.json"
DOCUMENT = json.loads(SCOPES_FILE.read_text(encoding="utf-8"))
OPERATIONS: dict[str, dict] = DOCUMENT["operations"]
SPEC_SCOPES = {scope for op in OPERATIONS.values() for scope in op["scopes"]}


def _template(key: str) -> tuple[str, re.Pattern[str]]:
    method, _, path = key.partition(" ")
    regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path))
    return method, re.compile(regex)


TEMPLATES = {key: _template(key) for key in OPERATIONS}


def operation_for(method: str, path: str) -> str:
    """The spec operation a concrete request hits (the most literal template wins)."""
    matches = [
        key
        for key, (verb, pattern) in TEMPLATES.items()
        if verb == method and pattern.fullmatch(path)
    ]
    assert matches, f"{method} {path} is no operation of the spec"
    return max(matches, key=lambda key: sum(1 for p in key.split("/") if "{" not in p))


def test_the_scope_list_names_its_source_commit_and_holds_the_whole_spec():
    assert re.fullmatch(r"[0-9a-f]{40}", DOCUMENT["source"]["commit"])
    assert len(OPERATIONS) > 600
    assert len(SPEC_SCOPES) == 142


def test_the_catalogue_knows_every_scope_of_the_spec():
    assert set(CATALOGUE) >= SPEC_SCOPES - ALIASES, sorted(SPEC_SCOPES - ALIASES - set(CATALOGUE))


def test_the_catalogue_knows_nothing_the_spec_lacks_but_the_control_panel_scopes():
    assert set(CATALOGUE) - SPEC_SCOPES == NOT_IN_SPEC


def test_the_sandbox_accepts_exactly_the_catalogue():
    assert set(CATALOGUE) | ALIASES == sandbox_scopes.KNOWN_SCOPES


def test_unprobed_scopes_are_sorted_and_without_a_probe():
    names = [name for name, _ in UNPROBED]
    assert names == sorted(names)
    assert all(CATALOGUE[name].probe is None for name in names)


@pytest.mark.parametrize(
    "name", sorted(n for n, s in CATALOGUE.items() if s.probe is not None), ids=str
)
def test_every_probe_hits_a_current_operation_that_lists_exactly_its_scopes(name):
    probe = CATALOGUE[name].probe
    assert probe is not None
    key = operation_for(probe.method, probe.path)
    operation = OPERATIONS[key]
    assert not operation["deprecated"], f"{name} probes the deprecated {key}"
    listed = set(operation["scopes"]) - ALIASES
    assert name in listed, (name, key, listed)
    assert listed - {name} == set(probe.also_unlocked_by), (name, key, listed)


def test_no_probe_uses_the_deprecated_single_registry_paths():
    for scope in CATALOGUE.values():
        if scope.probe is not None:
            assert not scope.probe.path.startswith("/v2/registry/"), scope.name
            assert scope.probe.path != "/v2/registry", scope.name


def test_the_function_admin_probe_is_the_key_list_of_a_namespace_that_cannot_exist():
    probe = CATALOGUE["function:admin"].probe
    assert probe is not None
    assert probe.path == f"/v2/functions/namespaces/fn-{NIL_UUID}/keys"
    assert OPERATIONS[operation_for("GET", probe.path)]["scopes"] == ["function:admin"]


@pytest.mark.parametrize("endpoint", sandbox_scopes.ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_every_sandbox_endpoint_in_the_spec_checks_the_scopes_the_spec_lists(endpoint):
    key = f"{endpoint.method} {endpoint.path}"
    if key not in OPERATIONS:
        pytest.skip("not an operation of the public spec (OAuth token info, OAuth revoke)")
    assert set(endpoint.scopes) == set(OPERATIONS[key]["scopes"]) - ALIASES


def test_write_probes_that_create_say_how_to_undo_what_they_made():
    for name in ("spaces_key:create_credentials", "registry:create"):
        probe = CATALOGUE[name].probe
        assert probe is not None and probe.undo is not None, name
