"""The audit when DigitalOcean misbehaves: misfired writes, rate limits, errors, silence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from rotator.audit import ScopeReport, audit_token
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.sandbox import Sandbox
from rotator.secret import Secret

NEEDED = frozenset(
    {"account:read", "spaces_key:read", "spaces_key:create_credentials", "spaces_key:delete"}
)
ROTATOR_TOKEN = [*NEEDED, "spaces:read", "regions:read", "sizes:read", "actions:read"]
CANARY_SECRET = "canary-secret-0123456789abcdefghijklmnopqrstuvwx"


@pytest.fixture
def audit_with(sandbox: Sandbox) -> Iterator[Any]:
    """Audit a token by probes (token info unavailable) with a client that never sleeps."""
    made: list[DigitalOceanClient] = []

    def run(token: str, box: Sandbox = sandbox, timeout: float = 10.0) -> ScopeReport:
        box.add_fault(path="^/v1/oauth/token/info$", status=503, times=None)
        client = DigitalOceanClient(
            Secret(token),
            api_url=box.url,
            oauth_url=box.url,
            timeout=timeout,
            retry=RetryPolicy(attempts=2, base_delay=0.0),
            sleep=lambda seconds: None,
        )
        made.append(client)
        return audit_token(client, "prod", required=NEEDED, audited_at=datetime.now(UTC))

    yield run
    for client in made:
        client.close()


def test_a_write_probe_answered_201_stops_probing_and_flags_a_defect(sandbox, audit_with):
    token = sandbox.add_token(ROTATOR_TOKEN)
    sandbox.add_fault(
        method="POST",
        path="^/v2/spaces/keys$",
        status=201,
        body={"key": {"access_key": "DO00FAKE", "secret_key": CANARY_SECRET}},
    )
    report = audit_with(token)
    assert report.defect is not None
    assert (report.defect.scope, report.defect.method, report.defect.status) == (
        "spaces_key:create_credentials",
        "POST",
        201,
    )
    log = [r for r in sandbox.requests() if r["path"] != "/v1/oauth/token/info"]
    assert (log[-2]["method"], log[-2]["path"], log[-2]["status"]) == (
        "POST",
        "/v2/spaces/keys",
        201,
    )
    # The probe then tries to delete what it made, and says how that went.
    assert (log[-1]["method"], log[-1]["path"]) == ("DELETE", "/v2/spaces/keys/DO00FAKE")
    assert "deleting DO00FAKE failed" in report.defect.undone
    assert report.verdict == "unknown"
    assert "spaces_key:delete" in report.unknown
    assert report.missing == ()
    assert any("must never succeed" in warning for warning in report.warnings)
    assert CANARY_SECRET not in json.dumps(report.to_json())


def test_a_key_minted_by_a_misfired_write_probe_is_deleted_and_reported(sandbox, audit_with):
    token = sandbox.add_token(ROTATOR_TOKEN)
    minted = sandbox.add_spaces_key("minted-by-a-misfire", [])
    sandbox.add_fault(
        method="POST",
        path="^/v2/spaces/keys$",
        status=201,
        body={"key": {"access_key": minted["access_key"], "secret_key": CANARY_SECRET}},
    )
    report = audit_with(token)
    assert report.defect is not None
    assert report.defect.undone == f"deleted {minted['access_key']}"
    assert minted["access_key"] not in {k["access_key"] for k in sandbox.spaces_keys()}
    assert report.defect.undone in " ".join(report.warnings)
    assert CANARY_SECRET not in json.dumps(report.to_json())


def test_rate_limiting_makes_the_remaining_scopes_unknown_not_missing(sandbox, audit_with):
    token = sandbox.add_token(ROTATOR_TOKEN)
    sandbox.add_fault(path="^/v2/apps$", status=429, retry_after=0, times=None)
    report = audit_with(token)
    assert report.verdict == "unknown"
    assert report.missing == ()
    assert NEEDED - {"account:read"} <= set(report.unknown)
    assert "account:read" in report.granted
    assert any("rate limited" in warning for warning in report.warnings)
    # Probing stopped at the refused probe instead of hammering on.
    assert [r["path"] for r in sandbox.requests()][-1] == "/v2/apps"


def test_a_server_error_makes_one_scope_unknown_and_the_rest_are_still_probed(sandbox, audit_with):
    token = sandbox.add_token(ROTATOR_TOKEN)
    sandbox.add_fault(method="GET", path="^/v2/spaces/keys$", status=503, times=None)
    report = audit_with(token)
    assert set(report.unknown) >= {"spaces_key:read"}
    assert "spaces_key:read" not in report.missing
    assert {"spaces_key:create_credentials", "spaces_key:delete"} <= set(report.granted)
    assert report.verdict == "unknown"


def test_three_failures_in_a_row_stop_probing(sandbox, audit_with):
    token = sandbox.add_token(ROTATOR_TOKEN)
    sandbox.add_fault(method="GET", path="^/v2/.*", status=500, times=None)
    report = audit_with(token)
    assert report.probe_calls == 3
    assert report.verdict == "unknown"
    assert report.missing == () and report.excess == ()


def test_a_timeout_makes_a_scope_unknown(sandbox, audit_with):
    token = sandbox.add_token(ROTATOR_TOKEN)
    sandbox.add_fault(method="GET", path="^/v2/droplets$", delay=1.0, times=2)
    report = audit_with(token, timeout=0.3)
    assert "droplet:read" in report.unknown
    assert report.verdict == "unknown"
    assert report.missing == ()


def test_probing_stops_when_the_hourly_budget_runs_low(audit_with):
    with Sandbox(rate_per_hour=60, deployment_step_seconds=0.05) as small:
        token = small.add_token(["api:write"])
        report = audit_with(token, box=small)
        assert report.probe_calls < 60
        assert report.unknown
        # Every read was held, so the excess is certain even with the writes unasked.
        assert report.verdict == "too_broad"
        assert report.missing == ()
        assert any("hourly rate limit" in warning for warning in report.warnings)


def test_malformed_token_info_is_not_trusted(sandbox, audit_with):
    token = sandbox.add_token(ROTATOR_TOKEN)
    sandbox.add_fault(path="^/v1/oauth/token/info$", status=200, body={"scopes": ["everything"]})
    report = audit_with(token)
    assert report.source == "probes"
    assert report.verdict == "ok"
    assert any("malformed" in warning for warning in report.warnings)
