"""Fuzz every DigitalOcean answer rotator reads: the models, and the client on any reply.

A hostile or broken API may answer anything: any status, any headers, any
body. Each call returns its result or raises one RotatorError whose one-line
message never holds the token.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from rotator.digitalocean import apps, spaces
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.models import Account, TokenInfo
from rotator.digitalocean.budget import RateBudget, Ticket
from rotator.digitalocean.retry import RetryPolicy, required_wait
from rotator.digitalocean.spaces import SpacesKey
from rotator.errors import RotatorError
from rotator.secret import Secret
from tests.fuzz.fuzz_support import (
    CANARY_TOKEN,
    FUZZ,
    dumps,
    json_values,
    objects_with,
    outcome,
)

ACCOUNT_FIELDS = ["email", "uuid", "status", "status_message", "email_verified", "team"]
TOKEN_INFO_FIELDS = [
    "scopes",
    "expires_in_seconds",
    "resource_owner_id",
    "application",
    "created_at",
]
KEY_FIELDS = ["name", "access_key", "grants", "created_at", "secret_key"]


@FUZZ
@given(json_values | st.fixed_dictionaries({"account": objects_with(ACCOUNT_FIELDS)}))
def test_an_account_answer_parses_or_is_one_error(body):
    result = outcome(lambda: Account.from_json(body))
    if isinstance(result, Account):
        assert isinstance(result.email, str) and isinstance(result.uuid, str)


@FUZZ
@given(json_values | objects_with(TOKEN_INFO_FIELDS))
def test_a_token_info_answer_parses_or_is_none(body):
    result = outcome(lambda: TokenInfo.from_json(body))
    assert result is None or isinstance(result, TokenInfo)
    if isinstance(result, TokenInfo):
        assert all(isinstance(scope, str) for scope in result.scopes)


@FUZZ
@given(json_values | objects_with(KEY_FIELDS))
def test_a_spaces_key_answer_parses_or_is_one_error(body):
    result = outcome(lambda: SpacesKey.from_json(body))
    if isinstance(result, SpacesKey):
        assert isinstance(result.access_key, str)
        assert all(isinstance(g.bucket, str) for g in result.grants)


header_names = st.sampled_from(
    ["retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "x-request-id"]
)
header_values = (
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
    | st.integers(min_value=-(10**30), max_value=10**30).map(str)
    | st.floats(allow_nan=True, allow_infinity=True).map(str)
    | st.sampled_from(["Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "1e999"])
)
headers = st.dictionaries(header_names, header_values, max_size=5)


@FUZZ
@given(headers, st.floats(min_value=0, max_value=4e9))
def test_rate_limit_headers_give_a_finite_wait_or_none(values, now):
    wait = required_wait(values, now)
    assert wait is None or (math.isfinite(wait) and wait >= 0)
    for status in (200, 429):
        budget = RateBudget(250, 5000)
        first = budget.acquire("token", now)
        assert isinstance(first, Ticket)
        budget.observe(first, values, now, status=status)
        answer = budget.acquire("token", now)
        when = answer.start if isinstance(answer, Ticket) else answer.not_before
        assert math.isfinite(when) and when >= now


statuses = st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 418, 422, 429, 500, 503])
bodies = (
    json_values.map(dumps)
    | st.binary(max_size=200)
    | objects_with(
        [
            "account",
            "key",
            "keys",
            "app",
            "deployment",
            "links",
            "meta",
            "message",
            "id",
            "request_id",
        ]
    ).map(dumps)
    | st.fixed_dictionaries(
        {"message": st.text(max_size=60).map(lambda t: t + CANARY_TOKEN), "id": st.text(max_size=9)}
    ).map(dumps)
)
answers = st.tuples(statuses, headers, bodies)


def _client(replies: list[tuple[int, dict[str, str], bytes]]) -> DigitalOceanClient:
    def reply(request: httpx.Request) -> httpx.Response:
        status, values, body = replies[len(seen) % len(replies)]
        seen.append(request)
        return httpx.Response(status, headers=values, content=body)

    seen: list[httpx.Request] = []
    return DigitalOceanClient(
        Secret(CANARY_TOKEN),
        api_url="https://api.example.test",
        oauth_url="https://oauth.example.test",
        http=httpx.Client(transport=httpx.MockTransport(reply)),
        retry=RetryPolicy(attempts=2),
        sleep=lambda seconds: None,
    )


CALLS: dict[str, Any] = {
    "account": lambda c: c.account(),
    "token_info": lambda c: c.token_info(),
    "get_json": lambda c: c.get_json("/v2/anything"),
    "paginate": lambda c: list(c.paginate("/v2/spaces/keys", "keys")),
    "list_keys": lambda c: spaces.list_keys(c),
    "get_key": lambda c: spaces.get_key(c, "DO00EXAMPLE"),
    "find_key": lambda c: spaces.find_key(c, "media"),
    "create_key": lambda c: spaces.create_key(c, "rotator-media-1", ()),
    "delete_key": lambda c: spaces.delete_key(c, "DO00EXAMPLE"),
    "get_app": lambda c: apps.get_app(c, "6d3b0c1e-1111-2222-3333-444455556666"),
    "get_deployment": lambda c: apps.get_deployment(c, "app", "deployment"),
}


@FUZZ
@given(st.sampled_from(sorted(CALLS)), st.lists(answers, min_size=1, max_size=3))
def test_every_api_call_returns_or_raises_one_clean_error_whatever_the_answer(call, replies):
    with _client(replies) as client:
        result = outcome(lambda: CALLS[call](client))
    if isinstance(result, RotatorError):
        assert CANARY_TOKEN not in repr(result.args)
