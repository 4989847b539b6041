"""DigitalOcean failing in every way: unknown, never invalid; clear lines; no damage."""

import json

import pytest

from tests.support.cli import assert_one_line_error

SCOPES = ["account:read"]


@pytest.fixture
def prod(initialised, sandbox):
    token = sandbox.add_token(SCOPES)
    assert initialised.add("prod", token).code == 0
    return initialised


def validate_json(rotator):
    result = rotator("connection", "validate", "prod", "--json")
    return result, json.loads(result.stdout)[0]


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 503},
        {"status": 429},
        {"status": 429, "retry_after": 1},
        {"drop": True},
        {"delay": 3.0},
    ],
)
def test_a_failing_api_makes_the_token_unknown_never_invalid(prod, sandbox, fault):
    sandbox.add_fault(path="^/v2/account$", times=10, **fault)
    result, item = validate_json(prod)
    assert result.code == 1
    assert item["status"] == "unknown"
    assert "Traceback" not in result.output
    record = json.loads(prod("connection", "show", "prod", "--json").stdout)
    assert record["status"] == "unknown"


def test_one_transient_failure_is_retried_and_the_token_is_valid(prod, sandbox):
    sandbox.add_fault(path="^/v2/account$", times=1, status=500)
    result, item = validate_json(prod)
    assert (result.code, item["status"]) == (0, "valid")


def test_a_429_with_retry_after_is_honoured_then_succeeds(prod, sandbox):
    sandbox.add_fault(path="^/v2/account$", times=1, status=429, retry_after=1)
    result, item = validate_json(prod)
    assert (result.code, item["status"]) == (0, "valid")


def test_a_404_from_the_account_endpoint_is_unknown(prod, sandbox):
    sandbox.add_fault(path="^/v2/account$", times=10, status=404)
    result, item = validate_json(prod)
    assert result.code == 1
    assert item["status"] == "unknown"


def test_a_401_marks_the_stored_token_invalid(prod, sandbox):
    sandbox.add_fault(path="^/v2/account$", times=10, status=401)
    result, item = validate_json(prod)
    assert (result.code, item["status"]) == (1, "invalid")


def test_an_unreachable_api_at_registration_stores_the_token_as_unknown(initialised, sandbox):
    token = sandbox.add_token(SCOPES)
    result = initialised(
        "connection",
        "add",
        "prod",
        "--token-stdin",
        env={
            "ROTATOR_DO_API_URL": "http://127.0.0.1:9",
            "ROTATOR_DO_OAUTH_URL": "http://127.0.0.1:9",
        },
        stdin=token,
    )
    assert result.code == 0, result.output
    assert "could not validate" in result.stderr
    assert "Traceback" not in result.output


def test_an_unreachable_api_on_validate_is_one_line_per_connection(prod):
    result = prod(
        "connection", "validate", "prod", env={"ROTATOR_DO_API_URL": "http://127.0.0.1:9"}
    )
    assert result.code == 1
    assert "unknown" in result.stdout
    assert_one_line_error(prod("connection", "show", "nope"), 2)
