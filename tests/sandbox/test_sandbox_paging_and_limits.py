"""Pagination links a client can follow, and per-token rate limits with their headers."""

from __future__ import annotations

import math

import httpx
import pytest

from rotator.sandbox import Sandbox
from tests.sandbox.helpers import assert_error

GRANT = [{"bucket": "media", "permission": "read"}]


def follow(client, path, **params):
    """Every page from ``path`` by following ``links.pages.next``; returns the pages."""
    pages = [client.get(path, params=params).json()]
    while "next" in pages[-1]["links"].get("pages", {}):
        pages.append(client.get(pages[-1]["links"]["pages"]["next"]).json())
    return pages


def test_following_next_links_visits_every_key_once(sandbox, client_for):
    for number in range(44):
        sandbox.add_spaces_key(f"key-{number:02}", GRANT)
    pages = follow(client_for(["spaces_key:read"]), "/v2/spaces/keys", per_page=10)
    assert len(pages) == 5
    seen = [key["access_key"] for page in pages for key in page["keys"]]
    assert len(seen) == len(set(seen)) == 45
    assert {page["meta"]["total"] for page in pages} == {45}
    assert [len(page["keys"]) for page in pages] == [10, 10, 10, 10, 5]


def test_links_are_full_urls_that_keep_the_other_parameters(sandbox, client_for):
    for number in range(5):
        sandbox.add_spaces_key(f"key-{number}", GRANT)
    client = client_for(["spaces_key:read"])
    middle = client.get("/v2/spaces/keys", params={"per_page": 2, "page": 2, "bucket": "media"})
    pages = middle.json()["links"]["pages"]
    assert set(pages) == {"first", "prev", "next", "last"}
    assert pages["next"].startswith(f"{sandbox.url}/v2/spaces/keys?")
    assert "per_page=2" in pages["next"]
    assert "bucket=media" in pages["next"]
    assert pages["next"].endswith("page=3")
    assert pages["last"].endswith("page=3")
    assert pages["first"].endswith("page=1")


def test_the_first_page_has_no_backward_links_and_the_last_no_forward_ones(client_for):
    client = client_for(["droplet:read"])
    first = client.get("/v2/droplets", params={"per_page": 1}).json()["links"]["pages"]
    assert set(first) == {"next", "last"}
    last = client.get("/v2/droplets", params={"per_page": 1, "page": 2}).json()["links"]["pages"]
    assert set(last) == {"first", "prev"}


def test_a_single_page_has_empty_links(client_for):
    body = client_for(["droplet:read"]).get("/v2/droplets").json()
    assert body["links"] == {}
    assert body["meta"] == {"total": 2}


def test_a_page_beyond_the_end_is_empty(client_for):
    body = client_for(["droplet:read"]).get("/v2/droplets", params={"page": 9}).json()
    assert body["droplets"] == []
    assert body["meta"]["total"] == 2


@pytest.mark.parametrize(
    "params", [{"per_page": 0}, {"per_page": 201}, {"per_page": "ten"}, {"page": 0}, {"page": -1}]
)
def test_out_of_range_paging_is_a_bad_request(client_for, params):
    assert_error(
        client_for(["droplet:read"]).get("/v2/droplets", params=params), 400, "bad_request"
    )


def test_per_page_200_is_allowed(client_for):
    assert client_for(["droplet:read"]).get("/v2/droplets", params={"per_page": 200}).is_success


def test_every_authenticated_answer_carries_rate_limit_headers(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds, rate_per_hour=100) as box:
        client = client_for(["account:read"], target=box)
        first = client.get("/v2/account")
        fake_clock.advance(5)
        second = client.get("/v2/droplets")  # a 403 still counts and still carries them
        assert second.status_code == 403
        for response, remaining in ((first, 99), (second, 98)):
            assert response.headers["ratelimit-limit"] == "100"
            assert response.headers["ratelimit-remaining"] == str(remaining)
            # The oldest request in the hour window expires an hour after it was made.
            assert response.headers["ratelimit-reset"] == str(
                math.ceil(fake_clock.seconds() - 5 + 3600)
            )


def test_the_minute_limit_answers_429_with_retry_after(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds, rate_per_minute=3) as box:
        client = client_for(["account:read"], target=box)
        for _ in range(3):
            assert client.get("/v2/account").status_code == 200
            fake_clock.advance(10)
        refused = client.get("/v2/account")
        assert_error(refused, 429, "too_many_requests")
        assert refused.json()["message"] == "API Rate limit exceeded."
        # The first request was 30 s ago: a slot frees up in 30 s.
        assert refused.headers["retry-after"] == "30"
        assert "ratelimit-remaining" in refused.headers
        fake_clock.advance(30)
        assert client.get("/v2/account").status_code == 200


def test_the_hour_limit_is_enforced_too(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds, rate_per_minute=100, rate_per_hour=4) as box:
        client = client_for(["account:read"], target=box)
        for _ in range(4):
            assert client.get("/v2/account").status_code == 200
            fake_clock.advance(61)
        refused = client.get("/v2/account")
        assert refused.status_code == 429
        assert refused.headers["ratelimit-remaining"] == "0"
        assert int(refused.headers["retry-after"]) == 3600 - 4 * 61


def test_each_token_has_its_own_windows(client_for):
    with Sandbox(rate_per_minute=2) as box:
        first = client_for(["account:read"], target=box)
        second = client_for(["account:read"], target=box)
        assert [first.get("/v2/account").status_code for _ in range(3)] == [200, 200, 429]
        assert second.get("/v2/account").status_code == 200


def test_the_real_default_limits_are_250_a_minute_and_5000_an_hour(client_for):
    response = client_for(["account:read"]).get("/v2/account")
    assert response.headers["ratelimit-limit"] == "5000"
    assert response.headers["ratelimit-remaining"] == "4999"


def test_the_limits_can_be_changed_while_the_sandbox_runs(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds) as box:
        client = client_for(["account:read"], target=box)
        box.set_rate_limits(per_minute=2, per_hour=200)
        assert [client.get("/v2/account").status_code for _ in range(3)] == [200, 200, 429]
        fake_clock.advance(60)
        answer = client.get("/v2/account")
        assert answer.headers["ratelimit-limit"] == "200"
        assert answer.headers["ratelimit-remaining"] == "197"
        assert box.rate_usage(client.headers["Authorization"].split()[1]) == {
            "minute": 1,
            "hour": 3,
        }


def test_a_tokens_hour_can_be_spent_in_advance_so_its_reset_is_far_away(fake_clock, client_for):
    with Sandbox(clock=fake_clock.seconds, rate_per_minute=60, rate_per_hour=200) as box:
        token = box.add_token(["account:read"])
        box.spend_rate_budget(token, 185, seconds_ago=600)
        client = client_for(token=token, target=box)
        answer = client.get("/v2/account")
        assert answer.headers["ratelimit-remaining"] == "14"
        assert answer.headers["ratelimit-reset"] == str(
            math.ceil(fake_clock.seconds() - 600 + 3600)
        )
        box.spend_rate_budget(token, 14)
        refused = client.get("/v2/account")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "3000"


@pytest.mark.parametrize(
    "limits", [{"per_minute": 0}, {"per_hour": -5}, {"per_minute": "many"}, {"per_hour": True}]
)
def test_nonsense_limits_are_refused(limits):
    with Sandbox(seed=False) as box, pytest.raises(ValueError, match="rate limit"):
        box.set_rate_limits(**limits)


def test_the_admin_api_reads_sets_and_spends_the_limits(sandbox, client_for):
    token = sandbox.add_token(["account:read"])
    with httpx.Client(base_url=sandbox.url) as admin:
        assert admin.get("/_sandbox/ratelimit").json() == {"per_minute": 250, "per_hour": 5000}
        changed = admin.put("/_sandbox/ratelimit", json={"per_minute": 60, "per_hour": 200})
        assert changed.json() == {"per_minute": 60, "per_hour": 200}
        spend = {"token": token, "calls": 190, "seconds_ago": 60}
        assert admin.post("/_sandbox/ratelimit/spend", json=spend).status_code == 204
        assert_error(
            admin.put("/_sandbox/ratelimit", json={"per_minute": 0}), 422, "unprocessable_entity"
        )
    answer = client_for(token=token).get("/v2/account")
    assert answer.headers["ratelimit-remaining"] == "9"
