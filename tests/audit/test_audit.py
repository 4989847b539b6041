"""The scope audit over real HTTP against the sandbox, compared with the sandbox's own truth.

Every token shape is audited twice: once as DigitalOcean usually allows
(token info answers) and once with token info switched off, so the probes
alone must find the answer. The sandbox's scope table (``expand_scopes``,
``ENDPOINTS``) is the independent truth; every audit must leave the
sandbox's world exactly as it found it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from rotator.audit import ScopeReport, audit_token
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.sandbox import Sandbox
from rotator.sandbox import scopes as truth
from rotator.secret import Secret

NEEDED = frozenset(
    {"account:read", "spaces_key:read", "spaces_key:create_credentials", "spaces_key:delete"}
)
COMPANIONS = frozenset({"spaces:read", "regions:read", "sizes:read", "actions:read"})
ALIASES = frozenset({"api:read", "api:write"})
# Scopes the sandbox can answer a probe for: the rest are visible to token info only.
CHECKED = frozenset(scope for endpoint in truth.ENDPOINTS for scope in endpoint.scopes)
# A probe endpoint another scope also opens (spec: sizes_list, functions_*, snapshots_delete).
SHARED_ENDPOINT = {
    "sizes:read": "regions:read",
    "function:read": "function:admin",
    "function:create": "function:admin",
    "function:delete": "function:admin",
    "snapshot:delete": "image:delete",
}

SHAPES: dict[str, list[str]] = {
    "rotator-only": [*NEEDED],
    "rotator-only with companions": [*NEEDED, *COMPANIONS],
    "lacking create and delete": ["account:read", "spaces_key:read", *COMPANIONS],
    "custom and too broad": [*NEEDED, *COMPANIONS, "droplet:read", "droplet:delete", "tag:read"],
    "read only": ["api:read"],
    "read only plus the spaces writes": [
        "api:read",
        "spaces_key:create_credentials",
        "spaces_key:delete",
    ],
    "full access": ["api:write"],
    "without account:read": ["spaces_key:read", "spaces_key:create_credentials"],
}


@pytest.fixture
def client_for(sandbox: Sandbox) -> Iterator[Any]:
    """Clients for sandbox tokens that never sleep (retries stay, their waits do not)."""
    made: list[DigitalOceanClient] = []

    def make(token: str) -> DigitalOceanClient:
        client = DigitalOceanClient(
            Secret(token),
            api_url=sandbox.url,
            oauth_url=sandbox.url,
            retry=RetryPolicy(attempts=2, base_delay=0.0),
            sleep=lambda seconds: None,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def probes_only(sandbox: Sandbox) -> None:
    """Make the token-info endpoint unavailable, as it may be for real (it is undocumented)."""
    sandbox.add_fault(path="^/v1/oauth/token/info$", status=404, times=None)


def run_audit(sandbox: Sandbox, client_for: Any, token: str, **options: Any) -> ScopeReport:
    """Audit and prove the sandbox's world did not change."""
    before = sandbox.snapshot()
    sandbox.reset_request_log()
    report = audit_token(
        client_for(token),
        "prod",
        required=options.pop("required", NEEDED),
        audited_at=datetime.now(UTC),
        **options,
    )
    assert sandbox.snapshot() == before
    writes = [r for r in sandbox.requests() if r["method"] != "GET"]
    assert [r for r in writes if r["status"] is not None and r["status"] < 300] == []
    return report


def expected_excess(held: frozenset[str]) -> set[str]:
    if "api:write" in held:
        return {"api:write"}
    return set(held - NEEDED - COMPANIONS)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_token_info_gives_exactly_the_sandbox_truth(sandbox, client_for, shape):
    scopes = SHAPES[shape]
    held = truth.expand_scopes(scopes)
    report = run_audit(sandbox, client_for, sandbox.add_token(scopes))
    assert report.source == "token_info"
    assert report.probe_calls == 0
    assert set(report.granted) == held
    assert set(report.missing) == NEEDED - held
    assert set(report.excess) == expected_excess(held)
    assert report.full_access == ("api:write" in scopes)
    assert report.unknown == ()
    assert report.token_scopes == tuple(scopes)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_probes_alone_agree_with_the_sandbox_truth(sandbox, client_for, shape):
    scopes = SHAPES[shape]
    held = truth.expand_scopes(scopes) - ALIASES
    probes_only(sandbox)
    report = run_audit(sandbox, client_for, sandbox.add_token(scopes))
    assert report.source == "probes"
    assert set(report.not_probed) == set(truth.KNOWN_SCOPES) - CHECKED - ALIASES
    # Undecided only where another held scope opens the same endpoint.
    for scope in report.unknown:
        assert SHARED_ENDPOINT[scope] in truth.expand_scopes(scopes), scope
    assert set(report.granted) == held - set(report.not_probed) - set(report.unknown)
    assert set(report.missing) == NEEDED - held
    decidable_excess = expected_excess(held) - set(report.not_probed) - set(report.unknown)
    if "api:write" in scopes:
        assert (report.full_access, set(report.excess)) == (True, {"api:write"})
    else:
        assert set(report.excess) == decidable_excess


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_both_ways_reach_the_same_verdict(sandbox, client_for, shape):
    token = sandbox.add_token(SHAPES[shape])
    by_info = run_audit(sandbox, client_for, token)
    probes_only(sandbox)
    by_probes = run_audit(sandbox, client_for, token)
    assert by_probes.verdict == by_info.verdict


def test_a_token_holding_just_what_it_needs_is_ok_in_one_call(sandbox, client_for):
    report = run_audit(sandbox, client_for, sandbox.add_token(SHAPES["rotator-only"]))
    assert (report.verdict, report.api_calls, report.blast_radius) == ("ok", 1, None)


def test_a_probe_audit_of_a_rotator_token_costs_about_thirty_calls(sandbox, client_for):
    probes_only(sandbox)
    report = run_audit(sandbox, client_for, sandbox.add_token(SHAPES["rotator-only"]))
    assert report.verdict == "ok"
    assert report.api_calls == report.probe_calls + 1
    assert report.probe_calls <= 35
    sent = {(r["method"], r["path"]) for r in sandbox.requests()}
    assert ("POST", "/v2/droplets") not in sent  # droplet:read was refused, so no write probe


def test_full_access_probing_costs_at_most_ninety_six_calls(sandbox, client_for):
    probes_only(sandbox)
    report = run_audit(sandbox, client_for, sandbox.add_token(["api:write"]))
    assert report.api_calls <= 96  # one per probe (four for the GenAI scopes) plus the account
    assert report.verdict == "too_broad"


def test_too_broad_tokens_report_their_blast_radius(sandbox, client_for):
    counts = sandbox.count_resources()
    report = run_audit(sandbox, client_for, sandbox.add_token(SHAPES["custom and too broad"]))
    assert report.verdict == "too_broad"
    assert report.blast_radius is not None
    assert report.blast_radius.counts == {"droplets": counts["droplets"]}
    assert report.blast_radius.sentence == f"can delete {counts['droplets']} Droplets"


def test_full_access_can_delete_everything_counted_and_probes_count_for_free(sandbox, client_for):
    counts = sandbox.count_resources()
    token = sandbox.add_token(["api:write"])
    by_info = run_audit(sandbox, client_for, token)
    assert by_info.blast_radius is not None
    assert by_info.blast_radius.counts == {
        "droplets": counts["droplets"],
        "kubernetes_clusters": counts["kubernetes_clusters"],
        "databases": counts["databases"],
        "apps": counts["apps"],
        "volumes": counts["volumes"],
        "domains": counts["domains"],
    }
    assert by_info.api_calls == 1 + 6  # token info, then one per_page=1 list per family
    probes_only(sandbox)
    by_probes = run_audit(sandbox, client_for, token)
    assert by_probes.blast_radius == by_info.blast_radius
    assert by_probes.api_calls == by_probes.probe_calls + 1


def test_a_read_only_token_has_no_blast_radius(sandbox, client_for):
    report = run_audit(sandbox, client_for, sandbox.add_token(["api:read"]))
    assert report.blast_radius is None


def test_a_revoked_token_is_invalid_after_one_probe(sandbox, client_for):
    token = sandbox.add_token(SHAPES["rotator-only"])
    sandbox.revoke_token(token)
    report = run_audit(sandbox, client_for, token)
    assert report.verdict == "invalid"
    assert report.probe_calls == 1
    assert report.granted == () and report.missing == ()


@pytest.mark.parametrize("kind", ["oauth", "legacy"])
def test_oauth_and_legacy_tokens_are_audited_alike(sandbox, client_for, kind):
    token = sandbox.add_token([*NEEDED, "droplet:read"], kind=kind)
    report = run_audit(sandbox, client_for, token)
    assert (report.verdict, report.excess) == ("too_broad", ("droplet:read",))


def test_thorough_probing_finds_a_write_scope_without_its_read(sandbox, client_for):
    # The control panel cannot make this token; the API could.
    token = sandbox.add_token([*NEEDED, "droplet:delete"])
    probes_only(sandbox)
    quick = run_audit(sandbox, client_for, token)
    assert "droplet:delete" not in quick.granted
    thorough = run_audit(sandbox, client_for, token, thorough=True)
    assert "droplet:delete" in thorough.granted
    assert thorough.verdict == "too_broad"


def test_extra_scopes_count_as_required(sandbox, client_for):
    token = sandbox.add_token([*NEEDED, "droplet:read"])
    report = run_audit(sandbox, client_for, token, required=NEEDED | {"droplet:read"})
    assert (report.verdict, report.excess) == ("ok", ())
