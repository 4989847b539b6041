"""Contract: every request rotator's client sends, and every answer it reads, is in DO's spec.

The client runs against the sandbox with a recording httpx hook; each
exchange whose operation is in ``digitalocean-openapi.json`` is validated
with openapi-core, requests and responses both.
"""

from __future__ import annotations

import httpx
import pytest

from rotator.digitalocean.account import validate
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.secret import Secret
from tests.contract import Recorder, in_spec, request_errors, response_errors

ALL_READ = [
    "account:read",
    "spaces_key:read",
    "spaces_key:create_credentials",
    "spaces_key:delete",
    "app:read",
    "app:update",
    "droplet:read",
    "kubernetes:read",
    "database:read",
    "block_storage:read",
    "domain:read",
]


@pytest.fixture
def recorded(sandbox):
    """Exchanges of a client session covering every operation rotator uses so far."""
    recorder = Recorder()
    good = Secret(sandbox.add_token(ALL_READ))
    narrow = Secret(sandbox.add_token(["spaces_key:read"]))
    revoked = Secret(sandbox.add_token(["account:read"]))
    sandbox.revoke_token(revoked.reveal())
    sandbox.add_fault(path="^/v2/droplets$", times=1, status=500)
    sandbox.add_fault(path="^/v2/account$", times=1, status=429, retry_after=0)
    with httpx.Client(event_hooks={"response": [recorder.hook]}) as http:

        def client(token: Secret) -> DigitalOceanClient:
            return DigitalOceanClient(
                token,
                api_url=sandbox.url,
                oauth_url=sandbox.url,
                http=http,
                retry=RetryPolicy(base_delay=0.01),
            )

        with client(good) as c:
            assert validate(c).status == "valid"
            for path, key in [
                ("/v2/spaces/keys", "keys"),
                ("/v2/apps", "apps"),
                ("/v2/droplets", "droplets"),
                ("/v2/volumes", "volumes"),
                ("/v2/kubernetes/clusters", "kubernetes_clusters"),
                ("/v2/databases", "databases"),
                ("/v2/domains", "domains"),
            ]:
                list(c.paginate(path, key, per_page=1))
        with client(narrow) as c:
            assert validate(c).status == "valid"
        with client(revoked) as c:
            assert validate(c).status == "invalid"
    return recorder.exchanges


def test_the_session_reaches_every_operation_it_means_to(recorded, openapi_spec):
    paths = {(e.request.method, e.request.url.path) for e in recorded if in_spec(openapi_spec, e)}
    assert {
        ("GET", "/v2/account"),
        ("GET", "/v2/spaces/keys"),
        ("GET", "/v2/apps"),
        ("GET", "/v2/droplets"),
        ("GET", "/v2/volumes"),
        ("GET", "/v2/databases"),
        ("GET", "/v2/kubernetes/clusters"),
        ("GET", "/v2/domains"),
    } <= paths
    statuses = {e.response.status_code for e in recorded}
    assert {200, 401, 403, 429, 500} <= statuses


def test_every_request_the_client_sends_matches_the_spec(recorded, openapi_spec):
    problems = {
        e.label: request_errors(openapi_spec, e) for e in recorded if in_spec(openapi_spec, e)
    }
    assert {label: errors for label, errors in problems.items() if errors} == {}


def test_every_answer_the_client_read_matches_the_spec(recorded, openapi_spec):
    problems = {
        e.label: response_errors(openapi_spec, e) for e in recorded if in_spec(openapi_spec, e)
    }
    assert {label: errors for label, errors in problems.items() if errors} == {}


def test_the_client_identifies_itself_and_sends_bearer_auth(recorded):
    from rotator import __version__

    for exchange in recorded:
        assert exchange.request.headers["user-agent"] == f"rotator/{__version__}"
        assert exchange.request.headers["authorization"].startswith("Bearer ")
