"""`rotator connection audit` as an operator runs it, against the sandbox."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import assert_one_line_error

NEEDED = ["account:read", "spaces_key:read", "spaces_key:create_credentials", "spaces_key:delete"]
COMPANIONS = ["spaces:read", "regions:read", "sizes:read", "actions:read"]
POLICY = """
[[policies]]
name = "media"
connection = "prod"
spaces_key = "DO00EXAMPLE"

[[policies.sinks]]
type = "vault"
url = "http://127.0.0.1:8200"
path = "media/spaces"
token = "unused-in-these-tests"
"""
REPORT_FIELDS = {
    "name",
    "granted",
    "required",
    "missing",
    "excess",
    "full_access",
    "verdict",
    "unknown",
    "blast_radius",
    "warnings",
    "audited_at",
    "probe_calls",
    "source",
}


@pytest.fixture
def operator(initialised):
    """A store with the rotation policy of connection "prod" in the config."""
    initialised.config.write_text(initialised.config.read_text() + POLICY)
    return initialised


def audit_json(operator, *extra):
    result = operator("connection", "audit", "prod", "--json", *extra)
    return result, json.loads(result.stdout)


def assert_nothing_changed(sandbox, before):
    assert sandbox.snapshot() == before
    changing = [r for r in sandbox.requests() if r["method"] != "GET"]
    assert [r for r in changing if r["status"] is not None and r["status"] < 300] == []


def test_a_token_holding_what_it_needs_exits_0_with_the_report_fields(operator, sandbox):
    token = sandbox.add_token([*NEEDED, *COMPANIONS])
    assert operator.add("prod", token).code == 0
    before = sandbox.snapshot()
    result, report = audit_json(operator)
    assert result.code == 0, result.output
    assert set(report) >= REPORT_FIELDS
    assert report["name"] == "prod"
    assert report["verdict"] == "ok"
    assert sorted(report["required"]) == sorted(NEEDED)
    assert (report["missing"], report["excess"], report["full_access"]) == ([], [], False)
    assert report["source"] == "token_info"
    assert report["probe_calls"] == 0
    assert token not in result.output
    assert_nothing_changed(sandbox, before)


def test_a_too_broad_token_exits_1_and_names_its_excess_and_blast_radius(operator, sandbox):
    operator.add("prod", sandbox.add_token([*NEEDED, "droplet:read", "droplet:delete"]))
    before = sandbox.snapshot()
    result, report = audit_json(operator)
    assert result.code == 1, result.output
    assert report["verdict"] == "too_broad"
    assert report["excess"] == ["droplet:delete", "droplet:read"]
    droplets = sandbox.count_resources()["droplets"]
    assert report["blast_radius"]["sentence"] == f"can delete {droplets} Droplets"
    assert_nothing_changed(sandbox, before)


def test_full_access_is_reported_as_api_write(operator, sandbox):
    operator.add("prod", sandbox.add_token(["api:write"]))
    result, report = audit_json(operator)
    assert result.code == 1
    assert (report["full_access"], report["excess"]) == (True, ["api:write"])


def test_a_token_lacking_a_needed_scope_exits_1_with_it_missing(operator, sandbox):
    operator.add("prod", sandbox.add_token(["account:read", "spaces_key:read"]))
    result, report = audit_json(operator)
    assert result.code == 1
    assert report["verdict"] == "missing"
    assert report["missing"] == ["spaces_key:create_credentials", "spaces_key:delete"]


def test_probes_alone_give_the_same_answer_and_change_nothing(operator, sandbox):
    operator.add("prod", sandbox.add_token([*NEEDED, *COMPANIONS, "droplet:read"]))
    sandbox.add_fault(path="^/v1/oauth/token/info$", status=404, times=None)
    before = sandbox.snapshot()
    sandbox.reset_request_log()
    result, report = audit_json(operator)
    assert result.code == 1, result.output
    assert report["source"] == "probes"
    assert report["verdict"] == "too_broad"
    assert report["excess"] == ["droplet:read"]
    assert report["unknown"] == ["sizes:read"]  # regions:read opens the same endpoint
    assert 0 < report["probe_calls"] <= 40
    assert_nothing_changed(sandbox, before)


def test_a_second_audit_reuses_the_report_until_refresh_is_asked(operator, sandbox):
    operator.add("prod", sandbox.add_token([*NEEDED]))
    first = audit_json(operator)[1]
    sandbox.reset_request_log()
    result, cached = audit_json(operator)
    assert result.code == 0
    assert cached["cached"] is True
    assert cached["audited_at"] == first["audited_at"]
    assert sandbox.requests() == []
    refreshed = audit_json(operator, "--refresh")[1]
    assert refreshed["cached"] is False
    assert sandbox.requests() != []


def test_a_new_token_is_audited_afresh(operator, sandbox):
    operator.add("prod", sandbox.add_token([*NEEDED, "droplet:read"]))
    assert audit_json(operator)[1]["verdict"] == "too_broad"
    updated = operator(
        "connection", "update", "prod", "--token-stdin", stdin=sandbox.add_token([*NEEDED])
    )
    assert updated.code == 0, updated.output
    result, report = audit_json(operator)
    assert (result.code, report["verdict"], report["cached"]) == (0, "ok", False)


def test_a_revoked_token_exits_1_as_invalid(operator, sandbox):
    token = sandbox.add_token([*NEEDED])
    operator.add("prod", token)
    sandbox.revoke_token(token)
    result, report = audit_json(operator)
    assert (result.code, report["verdict"]) == (1, "invalid")


def test_the_human_report_reads_as_fields_and_warnings(operator, sandbox):
    operator.add("prod", sandbox.add_token([*NEEDED, "droplet:read", "droplet:delete"]))
    result = operator("connection", "audit", "prod")
    assert result.code == 1
    assert "verdict:" in result.stdout
    assert "TOO_BROAD" in result.stdout
    assert "can delete" in result.stdout
    assert "excess:" in result.stdout


def test_an_unknown_connection_is_a_usage_error(operator):
    assert_one_line_error(operator("connection", "audit", "nope"), 2, "nope")


def test_the_name_is_required(operator):
    result = operator("connection", "audit")
    assert result.code == 2
    assert "Traceback" not in result.output
