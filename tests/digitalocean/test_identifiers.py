"""Identifiers from answers are checked against their shapes; paths are built with one encoder."""

from __future__ import annotations

import json

import pytest
import respx

from rotator.digitalocean import spaces
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.identifiers import api_path, segment
from rotator.digitalocean.models import Account, TokenInfo
from rotator.errors import DigitalOceanError
from tests.digitalocean.client_support import API, CANARY

APP = "4f6c71e2-1e90-4762-9fee-6cc4a0a9f2cf"
HOSTILE_ACCESS_KEYS = [
    f"../../apps/{APP}",
    "DO00ABC?x=1",
    "DO00%2f..",
    "DO00ABC\nforged",
    "DO00\x1b[31m",
    "do00lower",
    "",
    "A" * 129,
    7,
    None,
]


def key_answer(access_key: object, **more: object) -> dict:
    return {
        "key": {
            "name": "rotator-media-1",
            "access_key": access_key,
            "secret_key": "s3cr3t-value/with+base64=",
            "grants": [{"bucket": "media", "permission": "readwrite"}],
            "created_at": "2026-01-02T03:04:05Z",
            **more,
        }
    }


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("DO00ABC", "DO00ABC"),
        ("a/b", "a%2Fb"),
        ("a?b=c", "a%3Fb%3Dc"),
        ("a%2fb", "a%252fb"),
        ("a\nb", "a%0Ab"),
        ("a#b c", "a%23b%20c"),
        ("é", "%C3%A9"),
        ("...", "..."),
    ],
)
def test_a_segment_is_percent_encoded_whole(value: str, encoded: str) -> None:
    assert segment(value) == encoded


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_a_segment_that_no_encoding_makes_safe_is_refused(value: str) -> None:
    with pytest.raises(DigitalOceanError, match="path segment"):
        segment(value)


def test_api_path_encodes_every_value() -> None:
    assert api_path("/v2/apps/{}/deployments/{}", "../x", "y?z") == (
        "/v2/apps/..%2Fx/deployments/y%3Fz"
    )


@pytest.mark.parametrize("hostile", HOSTILE_ACCESS_KEYS)
def test_a_create_answer_with_a_misshapen_access_key_is_a_bad_answer(
    api: respx.MockRouter, client: DigitalOceanClient, hostile: object
) -> None:
    api.post(f"{API}/v2/spaces/keys").respond(201, json=key_answer(hostile))

    with pytest.raises(DigitalOceanError) as caught:
        spaces.create_key(client, "rotator-media-1", (spaces.Grant("media", "readwrite"),))

    message = str(caught.value)
    assert message.startswith("bad answer to POST /v2/spaces/keys: the access key is ")
    assert "\n" not in message and "\x1b" not in message
    assert "s3cr3t" not in message
    assert len(message) < 200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grants", [{"bucket": "../media", "permission": "read"}]),
        ("grants", [{"bucket": "media", "permission": "admin"}]),
        ("grants", "all"),
        ("name", "evil\nname"),
        ("created_at", "yesterday\x1b"),
    ],
)
def test_a_listed_key_with_a_misshapen_field_is_a_bad_answer(
    api: respx.MockRouter, client: DigitalOceanClient, field: str, value: object
) -> None:
    item = key_answer("DO00ABCDEFGHIJKLMNOP", **{field: value})["key"]
    api.get(f"{API}/v2/spaces/keys").respond(200, json={"keys": [item], "links": {}})

    with pytest.raises(DigitalOceanError, match="bad answer to GET /v2/spaces/keys"):
        spaces.list_keys(client)


@pytest.mark.parametrize("secret", ["", "two\nlines", "x" * 300, "with space"])
def test_a_create_answer_with_an_unusable_secret_is_refused_without_quoting_it(
    api: respx.MockRouter, client: DigitalOceanClient, secret: str
) -> None:
    answer = key_answer("DO00ABCDEFGHIJKLMNOP", secret_key=secret)
    api.post(f"{API}/v2/spaces/keys").respond(201, json=answer)

    with pytest.raises(DigitalOceanError, match="secret key is not one line") as caught:
        spaces.create_key(client, "rotator-media-1", ())

    if secret:
        assert secret not in str(caught.value)


def test_a_well_formed_create_answer_gives_the_key_and_its_secret(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.post(f"{API}/v2/spaces/keys").respond(201, json=key_answer("DO00ABCDEFGHIJKLMNOP"))

    key, secret = spaces.create_key(client, "rotator-media-1", ())

    assert key.access_key == "DO00ABCDEFGHIJKLMNOP"
    assert key.grants == (spaces.Grant("media", "readwrite"),)
    assert secret.reveal() == "s3cr3t-value/with+base64="


def test_delete_and_get_encode_the_access_key(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    deleted = api.delete(f"{API}/v2/spaces/keys/a%2F..%2Fb").respond(204)
    read = api.get(f"{API}/v2/spaces/keys/a%3Fb").respond(404)

    spaces.delete_key(client, "a/../b")
    with pytest.raises(DigitalOceanError):
        spaces.get_key(client, "a?b")

    assert deleted.called and read.called


def test_a_reference_that_is_not_an_access_key_is_only_searched_by_name(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    item = key_answer("DO00ABCDEFGHIJKLMNOP", name="../apps/x")["key"]
    listing = api.get(f"{API}/v2/spaces/keys", params={"name": "../apps/x"}).respond(
        200, json={"keys": [item], "links": {}}
    )

    assert spaces.find_key(client, "../apps/x").access_key == "DO00ABCDEFGHIJKLMNOP"
    assert listing.call_count == 1


@pytest.mark.parametrize("uuid", ["../x", "a b", "x" * 65, "u\n1"])
def test_an_account_answer_with_a_misshapen_uuid_is_a_bad_answer(uuid: str) -> None:
    body = {"account": {"email": "e@x.io", "uuid": uuid}}
    with pytest.raises(DigitalOceanError, match="bad answer to GET /v2/account"):
        Account.from_json(body)


def test_free_text_in_an_account_answer_is_kept_on_one_line() -> None:
    body = {
        "account": {
            "email": "e@x.io\nforged",
            "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
            "status": "warning",
            "status_message": "pay\x1b[2J now\r\n",
            "team": {"uuid": "5df3e3004a17e242b7c20ca6c9fc25b701a47ece", "name": "t\u202eeam"},
        }
    }

    account = Account.from_json(body)

    assert account.email == "e@x.io\\nforged"
    assert account.status_message == "pay\\x1b[2J now\\r\\n"
    assert account.team_name == "t\\u202eeam"


def test_token_info_with_a_misshapen_scope_is_unusable() -> None:
    assert TokenInfo.from_json({"scopes": ["account:read", "x\ny"]}) is None
    assert TokenInfo.from_json({"scopes": ["account:read", "spaces_key:*"]}) is not None


def test_a_bad_answer_never_shows_a_token_it_echoes() -> None:
    body = {"account": {"email": "e@x.io", "uuid": CANARY}}
    with pytest.raises(DigitalOceanError) as caught:
        Account.from_json(body)

    assert CANARY[:20] not in str(caught.value)
    assert json.dumps(str(caught.value)).count("c0ffee") == 0
