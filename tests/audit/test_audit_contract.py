"""Contract: the audit's requests and the answers it reads match DigitalOcean's spec.

Write probes leave their body out on purpose, so their requests are not
checked against the spec; every answer is, including the 403s, 404s and
422s a probe reads.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from rotator.audit import audit_token
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.secret import Secret
from tests.contract import Recorder, in_spec, request_errors, response_errors

BROAD = [
    "account:read",
    "spaces_key:read",
    "spaces_key:create_credentials",
    "spaces_key:delete",
    "spaces_key:update",
    "app:read",
    "app:update",
    "droplet:read",
    "droplet:delete",
    "kubernetes:read",
    "database:read",
    "block_storage:read",
    "domain:read",
]


@pytest.fixture
def recorded(sandbox):
    """Every exchange of one audit by probes and one by token info."""
    recorder = Recorder()
    token = Secret(sandbox.add_token(BROAD))
    needed = frozenset(BROAD[:4])
    with httpx.Client(event_hooks={"response": [recorder.hook]}) as http:
        client = DigitalOceanClient(
            token, api_url=sandbox.url, oauth_url=sandbox.url, http=http, retry=RetryPolicy()
        )
        audit_token(client, "prod", required=needed, audited_at=datetime.now(UTC))
        sandbox.add_fault(path="^/v1/oauth/token/info$", status=404, times=None)
        audit_token(client, "prod", required=needed, audited_at=datetime.now(UTC))
    return recorder.exchanges


def test_the_audit_reaches_the_operations_in_the_spec(recorded, openapi_spec):
    reached = {(e.request.method, e.request.url.path) for e in recorded if in_spec(openapi_spec, e)}
    assert {
        ("GET", "/v2/account"),
        ("GET", "/v2/spaces/keys"),
        ("POST", "/v2/spaces/keys"),
        ("DELETE", "/v2/spaces/keys/rotator-probe-does-not-exist"),
        ("GET", "/v2/droplets"),
        ("GET", "/v2/databases"),
    } <= reached


def test_every_read_the_audit_sends_matches_the_spec(recorded, openapi_spec):
    problems = {
        e.label: request_errors(openapi_spec, e)
        for e in recorded
        if e.request.method == "GET" and in_spec(openapi_spec, e)
    }
    assert {label: errors for label, errors in problems.items() if errors} == {}


def test_every_answer_the_audit_reads_matches_the_spec(recorded, openapi_spec):
    problems = {
        e.label: response_errors(openapi_spec, e) for e in recorded if in_spec(openapi_spec, e)
    }
    assert {label: errors for label, errors in problems.items() if errors} == {}
