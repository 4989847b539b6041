"""Spaces access keys: create, read, rename, delete, and what the API refuses."""

from __future__ import annotations

import re

import pytest

from tests.sandbox.helpers import assert_error

ALL_KEY_SCOPES = [
    "spaces_key:read",
    "spaces_key:create_credentials",
    "spaces_key:update",
    "spaces_key:delete",
]
READ_GRANT = [{"bucket": "media", "permission": "read"}]


@pytest.fixture
def keys(client_for):
    return client_for(ALL_KEY_SCOPES)


def test_creating_a_key_answers_201_with_its_secret_once(sandbox, keys):
    response = keys.post("/v2/spaces/keys", json={"name": "media-1", "grants": READ_GRANT})
    assert response.status_code == 201
    key = response.json()["key"]
    assert re.fullmatch(r"DO[A-Z0-9]{18}", key["access_key"])
    assert re.fullmatch(r"[A-Za-z0-9+/]{43}", key["secret_key"])
    assert key["name"] == "media-1"
    assert key["grants"] == READ_GRANT
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", key["created_at"])
    shown = keys.get(f"/v2/spaces/keys/{key['access_key']}").json()["key"]
    assert "secret_key" not in shown
    assert shown == {k: v for k, v in key.items() if k != "secret_key"}
    truth = {k["access_key"]: k for k in sandbox.spaces_keys()}
    assert truth[key["access_key"]]["secret_key"] == key["secret_key"]


def test_listing_never_shows_a_secret(keys):
    keys.post("/v2/spaces/keys", json={"name": "media-1", "grants": READ_GRANT})
    listed = keys.get("/v2/spaces/keys").json()["keys"]
    assert listed
    assert all("secret_key" not in key for key in listed)


def test_a_key_can_only_be_renamed(keys):
    key = keys.post("/v2/spaces/keys", json={"name": "old", "grants": READ_GRANT}).json()["key"]
    path = f"/v2/spaces/keys/{key['access_key']}"
    renamed = keys.put(path, json={"name": "new"})
    assert renamed.status_code == 200
    assert renamed.json()["key"]["name"] == "new"
    assert keys.patch(path, json={"name": "newer"}).json()["key"]["name"] == "newer"
    other_grants = {"name": "x", "grants": [{"bucket": "", "permission": "fullaccess"}]}
    assert_error(keys.put(path, json=other_grants), 422, "unprocessable_entity")
    assert_error(keys.put(path, json={"name": ""}), 422, "unprocessable_entity")
    assert_error(keys.put(path), 422, "unprocessable_entity")
    assert keys.get(path).json()["key"]["grants"] == READ_GRANT


def test_deleting_a_key_answers_204_and_it_is_gone(sandbox, keys):
    key = keys.post("/v2/spaces/keys", json={"name": "gone", "grants": []}).json()["key"]
    path = f"/v2/spaces/keys/{key['access_key']}"
    response = keys.delete(path)
    assert response.status_code == 204
    assert response.content == b""
    assert_error(keys.get(path), 404, "not_found")
    assert_error(keys.delete(path), 404, "not_found")
    assert key["access_key"] not in {k["access_key"] for k in sandbox.spaces_keys()}


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_an_unknown_access_key_is_not_found(keys, method):
    body = {"name": "x"} if method in ("PUT", "PATCH") else None
    response = keys.request(method, "/v2/spaces/keys/DO000000000000000000", json=body)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {},
        {"grants": READ_GRANT},
        {"name": "", "grants": READ_GRANT},
        {"name": 5, "grants": READ_GRANT},
        {"name": "k"},
        {"name": "k", "grants": "media"},
        {"name": "k", "grants": [{"bucket": "media"}]},
        {"name": "k", "grants": [{"bucket": "media", "permission": "write"}]},
        {"name": "k", "grants": [{"bucket": "media", "permission": ""}]},
        {"name": "k", "grants": [{"bucket": "media", "permission": "fullaccess"}]},
        {"name": "k", "grants": [{"bucket": "", "permission": "read"}]},
    ],
)
def test_an_invalid_key_is_refused_as_unprocessable_and_nothing_is_created(sandbox, keys, body):
    before = sandbox.count_resources()["spaces_keys"]
    response = (
        keys.post("/v2/spaces/keys", json=body)
        if body is not None
        else keys.post("/v2/spaces/keys")
    )
    assert_error(response, 422, "unprocessable_entity")
    assert sandbox.count_resources()["spaces_keys"] == before


def test_full_access_mixed_with_scoped_grants_is_a_bad_request_as_the_spec_documents(keys):
    grants = [{"bucket": "", "permission": "fullaccess"}, *READ_GRANT]
    response = keys.post("/v2/spaces/keys", json={"name": "mixed", "grants": grants})
    assert_error(response, 400, "bad_request")


def test_full_access_and_no_grants_are_valid_keys(keys):
    full = [{"bucket": "", "permission": "fullaccess"}]
    assert keys.post("/v2/spaces/keys", json={"name": "all", "grants": full}).status_code == 201
    assert keys.post("/v2/spaces/keys", json={"name": "none", "grants": []}).status_code == 201


def test_an_account_holds_at_most_200_keys(sandbox, keys):
    for number in range(200 - sandbox.count_resources()["spaces_keys"]):
        sandbox.add_spaces_key(f"bulk-{number}", READ_GRANT)
    response = keys.post("/v2/spaces/keys", json={"name": "one-too-many", "grants": READ_GRANT})
    assert_error(response, 422, "unprocessable_entity")
    assert sandbox.count_resources()["spaces_keys"] == 200


def test_the_list_filters_by_name_bucket_and_permission(sandbox, keys):
    sandbox.add_spaces_key("alpha", [{"bucket": "logs", "permission": "readwrite"}])
    sandbox.add_spaces_key("beta", READ_GRANT)

    def names(**params):
        return [k["name"] for k in keys.get("/v2/spaces/keys", params=params).json()["keys"]]

    assert names(name="alpha") == ["alpha"]
    assert names(bucket="logs") == ["alpha"]
    assert set(names(permission="read")) == {"beta"}
    assert names(name="nobody") == []


def test_the_list_sorts_by_name_either_way(sandbox, keys):
    for name in ("b-key", "a-key", "c-key"):
        sandbox.add_spaces_key(name, READ_GRANT)
    params = {"sort": "name", "sort_direction": "asc", "bucket": "media"}
    ascending = [k["name"] for k in keys.get("/v2/spaces/keys", params=params).json()["keys"]]
    assert ascending == ["a-key", "b-key", "c-key"]
    params["sort_direction"] = "desc"
    descending = [k["name"] for k in keys.get("/v2/spaces/keys", params=params).json()["keys"]]
    assert descending == ["c-key", "b-key", "a-key"]
    assert_error(keys.get("/v2/spaces/keys", params={"sort": "secret"}), 400, "bad_request")


def test_the_newest_key_comes_first_by_default(sandbox, keys):
    sandbox.add_spaces_key("first", READ_GRANT)
    sandbox.add_spaces_key("second", READ_GRANT)
    listed = [k["name"] for k in keys.get("/v2/spaces/keys").json()["keys"]]
    assert listed.index("second") < listed.index("first")


def test_keys_of_another_account_are_invisible(sandbox, client_for):
    other = client_for(token=sandbox.add_token(ALL_KEY_SCOPES, account="e" * 40))
    assert other.get("/v2/spaces/keys").json() == {"keys": [], "links": {}, "meta": {"total": 0}}
    mine = sandbox.spaces_keys()[0]["access_key"]
    assert_error(other.get(f"/v2/spaces/keys/{mine}"), 404, "not_found")


def test_the_in_process_helper_refuses_what_the_api_refuses(sandbox):
    with pytest.raises(ValueError, match="permission"):
        sandbox.add_spaces_key("bad", [{"bucket": "media", "permission": "write"}])
    with pytest.raises(ValueError, match=r"spec\.name"):
        sandbox.add_app({"name": "Not Valid"})
