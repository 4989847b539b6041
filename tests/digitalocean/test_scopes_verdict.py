"""From held and needed scopes to a verdict, and the report's JSON: no HTTP needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rotator.audit import BlastRadius, Defect, Discovery, ScopeReport, judge
from rotator.audit.service import TokenPolicy, token_warnings
from rotator.digitalocean.scopes import CATALOGUE, expand_scopes
from rotator.store import Connection

NEEDED = frozenset(
    {"account:read", "spaces_key:read", "spaces_key:create_credentials", "spaces_key:delete"}
)
COMPANIONS = {"spaces:read", "regions:read", "sizes:read", "actions:read"}
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def from_token_info(*scopes: str) -> Discovery:
    return Discovery("token_info", granted=set(expand_scopes(scopes)))


def test_exactly_the_needed_scopes_and_companions_are_ok():
    judged = judge(from_token_info(*NEEDED, *COMPANIONS), NEEDED)
    assert (judged.verdict, judged.missing, judged.excess) == ("ok", set(), set())


def test_a_lacking_scope_is_missing_even_when_others_are_in_excess():
    judged = judge(from_token_info("account:read", "spaces_key:read", "droplet:delete"), NEEDED)
    assert judged.verdict == "missing"
    assert judged.missing == {"spaces_key:create_credentials", "spaces_key:delete"}
    assert judged.excess == {"droplet:delete"}


def test_full_access_is_too_broad_and_its_excess_is_api_write_alone():
    judged = judge(from_token_info("api:write"), NEEDED)
    assert (judged.verdict, judged.full_access, judged.excess) == ("too_broad", True, {"api:write"})


def test_a_read_only_token_lacks_the_write_scopes_and_lists_every_other_read_as_excess():
    judged = judge(from_token_info("api:read"), NEEDED)
    assert judged.verdict == "missing"
    assert "droplet:read" in judged.excess and "api:read" in judged.excess
    assert not COMPANIONS & judged.excess


def test_a_revoked_token_is_invalid_whatever_else_is_known():
    discovery = Discovery("probes", invalid=True, unknown={"droplet:read"})
    assert judge(discovery, NEEDED).verdict == "invalid"


def probed(held: set[str], unknown: set[str] = frozenset(), **extra: object) -> Discovery:
    probeable = {n for n, s in CATALOGUE.items() if s.probe is not None}
    return Discovery(
        "probes",
        granted=set(held),
        absent=probeable - held - set(unknown),
        unknown=set(unknown),
        not_probed={n for n, s in CATALOGUE.items() if s.probe is None},
        **extra,  # type: ignore[arg-type]
    )


def test_an_undecided_required_scope_makes_the_verdict_unknown_never_missing():
    judged = judge(probed({"account:read", "spaces_key:read"}, {"spaces_key:delete"}), NEEDED)
    # create_credentials is surely absent: that alone decides "missing".
    assert judged.verdict == "missing"
    assert judged.missing == {"spaces_key:create_credentials"}
    undecided = judge(probed(set(NEEDED) - {"spaces_key:delete"}, {"spaces_key:delete"}), NEEDED)
    assert (undecided.verdict, undecided.missing) == ("unknown", set())


def test_an_undecided_companion_scope_does_not_matter():
    judged = judge(probed(set(NEEDED) | {"regions:read"}, {"sizes:read"}), NEEDED)
    assert judged.verdict == "ok"
    assert judged.unknown == {"sizes:read"}


def test_an_undecided_scope_that_could_be_excess_makes_the_verdict_unknown():
    assert judge(probed(set(NEEDED), {"droplet:delete"}), NEEDED).verdict == "unknown"


def test_a_required_scope_without_a_probe_is_unknown_when_probing():
    needed = NEEDED | {"kubernetes:access_cluster"}
    judged = judge(probed(set(NEEDED)), needed)
    assert (judged.verdict, judged.unknown) == ("unknown", {"kubernetes:access_cluster"})


def test_a_misfired_write_probe_never_leaves_the_verdict_ok():
    defect = Defect("spaces_key:update", "PATCH", "/v2/spaces/keys/x", 200)
    judged = judge(probed(set(NEEDED), defect=defect), NEEDED)
    assert judged.verdict == "unknown"
    assert "must never succeed" in judged.reason


def test_every_probe_held_counts_as_full_access():
    everything = {n for n, s in CATALOGUE.items() if s.probe is not None}
    blurred = {"sizes:read", "snapshot:delete"}
    discovery = probed(everything - blurred, blurred, ambiguous=blurred)
    judged = judge(discovery, NEEDED)
    assert (judged.full_access, judged.excess) == (True, {"api:write"})


def test_the_blast_radius_sentence_names_what_can_be_deleted_then_modified():
    blast = BlastRadius(
        {"droplets": 14, "databases": 3, "apps": 1}, ("droplets", "databases"), ("apps",)
    )
    assert blast.sentence == "can delete 14 Droplets and 3 databases; can modify 1 app"
    assert BlastRadius.from_json(blast.to_json()) == blast


def report(**changes: object) -> ScopeReport:
    base = {
        "name": "prod",
        "token_hash": "ab" * 32,
        "audited_at": NOW,
        "source": "probes",
        "verdict": "too_broad",
        "reason": "r",
        "required": ("account:read",),
        "granted": ("account:read", "droplet:delete", "droplet:read"),
        "missing": (),
        "excess": ("droplet:delete", "droplet:read"),
        "unknown": (),
        "not_probed": ("spaces:read",),
        "full_access": False,
        "token_scopes": None,
        "blast_radius": BlastRadius({"droplets": 2}, ("droplets",), ()),
        "defect": Defect("droplet:create", "POST", "/v2/droplets", 201),
        "notes": ("n",),
        "warnings": ("n",),
        "probe_calls": 33,
        "api_calls": 34,
        "expires_at": NOW + timedelta(days=3),
        "token_created_at": None,
    }
    base.update(changes)
    return ScopeReport(**base)  # type: ignore[arg-type]


def test_a_report_survives_its_json_round_trip():
    original = report()
    assert ScopeReport.from_json(original.to_json()) == original


def test_a_report_in_another_format_is_refused():
    data = report().to_json()
    data["format"] = 0
    with pytest.raises(ValueError):
        ScopeReport.from_json(data)


def connection(kind: str = "personal", set_at: datetime = NOW) -> Connection:
    return Connection(
        id="1",
        name="prod",
        description="",
        token_hash="ab" * 32,
        token_kind=kind,
        version=1,
        token_set_at=set_at,
        status="valid",
        status_reason="",
        account_email=None,
        account_uuid=None,
        account_status=None,
        token_expires_at=None,
        created_at=set_at,
        updated_at=set_at,
        last_validated_at=None,
    )


def test_a_token_expiring_within_the_threshold_is_warned_about():
    warnings = token_warnings(connection(), report(), TokenPolicy(), NOW)
    assert any("expires in 3 days" in w for w in warnings)
    assert (
        token_warnings(connection(), report(), TokenPolicy(expiry_warning=timedelta(days=1)), NOW)
        == []
    )


def test_an_old_token_and_a_legacy_one_are_warned_about():
    old = connection("legacy", NOW - timedelta(days=120))
    warnings = token_warnings(old, report(expires_at=None), TokenPolicy(), NOW)
    assert any("120 days old" in w for w in warnings)
    assert any("legacy" in w for w in warnings)


def test_token_age_counts_from_digitalocean_creation_when_token_info_gave_it():
    created = NOW - timedelta(days=100)
    warnings = token_warnings(
        connection(), report(expires_at=None, token_created_at=created), TokenPolicy(), NOW
    )
    assert any("100 days old" in w for w in warnings)
