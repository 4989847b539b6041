"""`rotator connection validate` when the peer drips, stalls, babbles, floods or hangs up.

Each case runs the real CLI as a subprocess through the hostile proxy. The
process must end on its own (a generous 90 s process timeout, no timing
assertion), exit 1, report the token as unknown (never invalid) with a reason
an operator can act on, print no traceback, and leave the stored token alone.
"""

from __future__ import annotations

import json

import pytest

from tests.support.cli import Rotator
from tests.support.proxy import HostileProxy

PROCESS_TIMEOUT = 90


@pytest.fixture
def prod(rotator: Rotator, sandbox) -> Rotator:
    assert rotator.add("prod", sandbox.add_token(["account:read"])).code == 0
    return rotator


def validate(rotator: Rotator) -> tuple[int, dict, str]:
    result = rotator("connection", "validate", "prod", "--json", timeout=PROCESS_TIMEOUT)
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) <= 1, result.stderr
    return result.code, json.loads(result.stdout)[0], result.stderr


@pytest.mark.parametrize(
    ("mode", "options", "reason"),
    [
        ("drip", {"interval": 0.5}, "no complete answer within 2s"),
        ("stall", {}, "no complete answer within 2s"),
        ("garbage", {}, "not valid HTTP"),
        ("close", {}, "connection dropped before the answer was complete"),
        ("oversized", {}, "larger than 8 MiB"),
        ("oversized", {"declare": True}, "larger than 8 MiB"),
    ],
)
def test_a_hostile_account_endpoint_makes_the_token_unknown_with_one_clear_reason(
    prod: Rotator, proxy: HostileProxy, mode: str, options: dict, reason: str
) -> None:
    before = json.loads(prod("connection", "show", "prod", "--json").stdout)
    proxy.add(mode, path="^/v2/account$", **options)

    code, item, _ = validate(prod)

    assert code == 1
    assert item["status"] == "unknown"
    assert reason in item["reason"], item["reason"]
    assert "\n" not in item["reason"]
    assert "GET /v2/account" in item["reason"]
    after = json.loads(prod("connection", "show", "prod", "--json").stdout)
    assert (after["token_hash"], after["version"]) == (before["token_hash"], before["version"])
    assert after["status"] == "unknown"


def test_a_slow_drip_is_retried_within_the_deadline_and_then_given_up(
    prod: Rotator, proxy: HostileProxy
) -> None:
    proxy.add("drip", path="^/v2/account$", interval=0.5)
    earlier = len(proxy.seen)

    code, item, _ = validate(prod)

    assert (code, item["status"]) == (1, "unknown")
    assert "gave up after 2 attempts" in item["reason"]
    # retries = 1 in the test config: two attempts, then nothing more (not even token info).
    assert [(seen.path, seen.mode) for seen in proxy.seen[earlier:]] == [
        ("/v2/account", "drip"),
        ("/v2/account", "drip"),
    ]


def test_a_peer_that_answers_once_it_stops_dripping_validates_the_token(
    prod: Rotator, proxy: HostileProxy
) -> None:
    proxy.add("drip", path="^/v2/account$", interval=0.5, times=1)

    code, item, _ = validate(prod)

    assert (code, item["status"]) == (0, "valid")


def test_a_peer_that_garbles_token_info_still_leaves_a_valid_token_valid(
    prod: Rotator, proxy: HostileProxy
) -> None:
    proxy.add("garbage", path="token/info")

    code, item, _ = validate(prod)

    assert (code, item["status"]) == (0, "valid")


def test_a_peer_dripping_its_headers_is_cut_off_at_the_deadline(
    prod: Rotator, proxy: HostileProxy
) -> None:
    proxy.add("drip_headers", path="^/v2/account$", interval=0.5)

    result = prod("connection", "validate", "prod", "--json", timeout=20)

    assert result.code == 1
    item = json.loads(result.stdout)[0]
    assert item["status"] == "unknown"
    assert "no complete answer within 2s" in item["reason"]
