"""App Platform calls, with respx playing DigitalOcean: paths, bodies, and the PUT sent once."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from rotator.digitalocean import apps
from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import DigitalOceanError, Forbidden, ServerError, TransportError
from tests.digitalocean.client_support import API

DEPLOYMENT = "b6bdf840-2854-4f87-a36c-5f231c617c84"
PENDING = "3aa4d20e-5527-4c00-b496-601fbd22520a"
RUNNING = "4f6c71e2-1e90-4762-9fee-6cc4a0a9f2cf"
ACTIVE = "00000000-0000-4000-8000-000000000001"
SPEC = {"name": "media-app", "envs": [{"key": "A", "value": "1"}], "databases": [{"name": "db"}]}


def test_get_app_returns_the_app_object(api: respx.MockRouter, client: DigitalOceanClient) -> None:
    api.get(f"{API}/v2/apps/app-1").respond(200, json={"app": {"id": "app-1", "spec": SPEC}})

    assert apps.get_app(client, "app-1") == {"id": "app-1", "spec": SPEC}


def test_an_app_id_cannot_steer_the_request_to_another_path(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.get(f"{API}/v2/apps/..%2Faccount").respond(200, json={"app": {"id": "x"}})

    apps.get_app(client, "../account")

    assert route.called


def test_update_sends_the_spec_wrapped_and_unchanged(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.put(f"{API}/v2/apps/app-1").respond(
        200, json={"app": {"id": "app-1", "pending_deployment": {"id": DEPLOYMENT}}}
    )

    app = apps.update_app_spec(client, "app-1", SPEC)

    assert json.loads(route.calls.last.request.content) == {"spec": SPEC}
    assert apps.in_flight(app) == {"id": DEPLOYMENT}


def test_an_update_answered_with_a_server_error_is_sent_only_once(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.put(f"{API}/v2/apps/app-1").respond(500, json={"id": "server_error"})

    with pytest.raises(ServerError):
        apps.update_app_spec(client, "app-1", SPEC)

    assert route.call_count == 1


def test_an_update_whose_answer_is_lost_is_sent_only_once(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    route = api.put(f"{API}/v2/apps/app-1").mock(side_effect=httpx.ReadTimeout("lost"))

    with pytest.raises(TransportError):
        apps.update_app_spec(client, "app-1", SPEC)

    assert route.call_count == 1


def test_an_update_with_an_unreadable_answer_is_a_digitalocean_error(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.put(f"{API}/v2/apps/app-1").respond(200, text="<html>")

    with pytest.raises(DigitalOceanError, match="not JSON"):
        apps.update_app_spec(client, "app-1", SPEC)


def test_get_deployment_reads_the_phase(api: respx.MockRouter, client: DigitalOceanClient) -> None:
    api.get(f"{API}/v2/apps/app-1/deployments/{DEPLOYMENT}").respond(
        200, json={"deployment": {"id": DEPLOYMENT, "phase": "BUILDING"}}
    )

    assert apps.get_deployment(client, "app-1", DEPLOYMENT)["phase"] == "BUILDING"


def test_an_answer_without_the_object_is_a_digitalocean_error(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{API}/v2/apps/app-1/deployments/{DEPLOYMENT}").respond(200, json={"deployment": []})

    with pytest.raises(DigitalOceanError, match="no 'deployment' object"):
        apps.get_deployment(client, "app-1", DEPLOYMENT)


def test_a_forbidden_read_stays_a_typed_error(
    api: respx.MockRouter, client: DigitalOceanClient
) -> None:
    api.get(f"{API}/v2/apps/app-1").respond(403, json={"id": "forbidden", "message": "no"})

    with pytest.raises(Forbidden):
        apps.get_app(client, "app-1")


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ({}, None),
        ({"pending_deployment": {"id": PENDING}}, PENDING),
        ({"in_progress_deployment": {"id": RUNNING}}, RUNNING),
        ({"pending_deployment": {}, "in_progress_deployment": {"id": RUNNING}}, RUNNING),
    ],
)
def test_in_flight_finds_a_pending_or_in_progress_deployment(app, expected) -> None:
    found = apps.in_flight(app)
    assert (found or {}).get("id") == expected


def test_active_deployment_id_reads_only_an_id() -> None:
    assert apps.active_deployment_id({"active_deployment": {"id": ACTIVE}}) == ACTIVE
    assert apps.active_deployment_id({"active_deployment": {"id": 7}}) is None
    assert apps.active_deployment_id({}) is None


@pytest.mark.parametrize(
    "hostile", ["../../apps/x", "dep-1", "b6bdf840-2854-4f87-a36c-5f231c617c84\nforged", "%2e%2e"]
)
def test_a_deployment_id_that_is_not_a_uuid_is_a_bad_answer(hostile: str) -> None:
    with pytest.raises(DigitalOceanError, match=r"bad answer.*not a UUID"):
        apps.in_flight({"pending_deployment": {"id": hostile}})
    with pytest.raises(DigitalOceanError, match=r"bad answer.*not a UUID"):
        apps.active_deployment_id({"active_deployment": {"id": hostile}})
