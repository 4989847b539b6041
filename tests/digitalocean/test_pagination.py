from __future__ import annotations

import httpx
import pytest
import respx

from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import DigitalOceanError, Forbidden
from tests.digitalocean.client_support import API

KEYS = f"{API}/v2/spaces/keys"


def page(items: list[str], next_url: str | None = None, total: int = 5) -> httpx.Response:
    links = {"pages": {"next": next_url}} if next_url else {}
    return httpx.Response(
        200,
        json={"keys": [{"name": name} for name in items], "links": links, "meta": {"total": total}},
    )


def test_items_are_yielded_across_three_pages_in_order(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.get(KEYS).mock(
        side_effect=[
            page(["a", "b"], f"{KEYS}?page=2&per_page=2"),
            page(["c", "d"], f"{KEYS}?page=3&per_page=2"),
            page(["e"]),
        ]
    )

    names = [key["name"] for key in client.paginate("/v2/spaces/keys", "keys", per_page=2)]

    assert names == ["a", "b", "c", "d", "e"]
    queries = [dict(call.request.url.params) for call in route.calls]
    assert queries == [
        {"per_page": "2"},
        {"page": "2", "per_page": "2"},
        {"page": "3", "per_page": "2"},
    ]


def test_the_first_page_asks_for_200_items_with_the_callers_params(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.get(KEYS).mock(return_value=page([]))

    list(client.paginate("/v2/spaces/keys", "keys", params={"name": "media"}))

    assert dict(route.calls.last.request.url.params) == {"name": "media", "per_page": "200"}


def test_a_single_page_without_links_ends_the_listing(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(KEYS).respond(200, json={"keys": [{"name": "only"}], "meta": {"total": 1}})

    assert list(client.paginate("/v2/spaces/keys", "keys")) == [{"name": "only"}]


def test_a_missing_list_reads_as_empty(api: respx.MockRouter, client: DigitalOceanClient) -> None:
    api.get(KEYS).respond(200, json={"meta": {"total": 0}})

    assert list(client.paginate("/v2/spaces/keys", "keys")) == []


def test_a_next_link_to_another_host_is_refused_and_never_followed(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(KEYS).mock(return_value=page(["a"], "https://evil.example/v2/spaces/keys?page=2"))

    with pytest.raises(DigitalOceanError, match=r"another host \(https://evil.example\)"):
        list(client.paginate("/v2/spaces/keys", "keys"))


@pytest.mark.parametrize(
    "link",
    ["http://api.digitalocean.com/v2/spaces/keys?page=2", f"{API}:8443/v2/spaces/keys?page=2"],
    ids=["plain http", "other port"],
)
def test_a_next_link_with_another_scheme_or_port_is_refused(
    api: respx.MockRouter, client: DigitalOceanClient, link: str
) -> None:
    api.get(KEYS).mock(return_value=page(["a"], link))

    with pytest.raises(DigitalOceanError, match="another host"):
        list(client.paginate("/v2/spaces/keys", "keys"))


@pytest.mark.parametrize(
    "link",
    [f"{API}/v2/apps?page=2", "/v2/spaces/keys/../../v2/account?page=2", "/v2/spaces/keys/x"],
)
def test_a_next_link_to_another_path_is_refused_and_never_followed(
    api: respx.MockRouter, client: DigitalOceanClient, link: str
) -> None:
    route = api.get(KEYS).mock(return_value=page(["a"], link))

    with pytest.raises(DigitalOceanError, match="another path"):
        list(client.paginate("/v2/spaces/keys", "keys"))

    assert route.call_count == 1


def test_a_relative_next_link_is_followed_on_the_api_host(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(KEYS).mock(side_effect=[page(["a"], "/v2/spaces/keys?page=2"), page(["b"])])

    assert len(list(client.paginate("/v2/spaces/keys", "keys"))) == 2


def test_a_next_link_that_repeats_a_page_stops_the_listing(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    looping = f"{KEYS}?page=2"
    route = api.get(KEYS).mock(side_effect=lambda request: page(["x"], looping))

    with pytest.raises(DigitalOceanError, match="repeats a page"):
        list(client.paginate("/v2/spaces/keys", "keys"))

    assert route.call_count == 2  # page 1, then page 2 whose next link is page 2 again


def test_a_server_that_never_stops_paging_is_cut_off_at_the_page_cap(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        return page([str(number)], f"{KEYS}?page={number + 1}")

    route = api.get(KEYS).mock(side_effect=endless)

    with pytest.raises(DigitalOceanError, match="more pages after 5"):
        list(client.paginate("/v2/spaces/keys", "keys", max_pages=5))

    assert route.call_count == 5


def test_an_error_on_a_later_page_is_raised_typed(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(KEYS).mock(
        side_effect=[page(["a"], f"{KEYS}?page=2"), httpx.Response(403, json={"id": "forbidden"})]
    )

    with pytest.raises(Forbidden) as caught:
        list(client.paginate("/v2/spaces/keys", "keys"))

    assert caught.value.path == "/v2/spaces/keys"


def test_a_list_of_non_objects_is_refused(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(KEYS).respond(200, json={"keys": ["a", "b"]})

    with pytest.raises(DigitalOceanError, match="no list of objects 'keys'"):
        list(client.paginate("/v2/spaces/keys", "keys"))


@pytest.mark.parametrize("per_page", [0, 201])
def test_per_page_must_be_within_the_apis_limits(client: DigitalOceanClient, per_page: int) -> None:
    with pytest.raises(ValueError, match="per_page"):
        list(client.paginate("/v2/spaces/keys", "keys", per_page=per_page))
