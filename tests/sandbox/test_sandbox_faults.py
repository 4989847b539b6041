"""Fault injection: statuses, delays, dropped connections, lost answers and killed clients."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.sandbox.helpers import assert_error

KEY = {"name": "faulty", "grants": [{"bucket": "media", "permission": "read"}]}
KEY_SCOPES = ["spaces_key:read", "spaces_key:create_credentials"]


def test_a_fault_answers_with_its_status_and_digitaloceans_error_body(sandbox, client_for):
    sandbox.add_fault(path="/v2/account", status=503)
    client = client_for(["account:read"])
    assert_error(client.get("/v2/account"), 503, "service_unavailable")
    assert client.get("/v2/account").status_code == 200


def test_a_fault_can_carry_its_own_body_and_headers(sandbox, client_for):
    sandbox.add_fault(status=500, body={"id": "oops", "message": "custom"}, headers={"X-A": "b"})
    response = client_for(["account:read"]).get("/v2/account")
    assert response.status_code == 500
    assert response.json() == {"id": "oops", "message": "custom"}
    assert response.headers["x-a"] == "b"
    assert response.headers["x-request-id"]


def test_retry_after_alone_means_a_429(sandbox, client_for):
    sandbox.add_fault(path="/v2/account", retry_after=7)
    response = client_for(["account:read"]).get("/v2/account")
    assert_error(response, 429, "too_many_requests")
    assert response.headers["retry-after"] == "7"


def test_times_bounds_how_often_a_fault_fires(sandbox, client_for):
    sandbox.add_fault(path="/v2/account", status=500, times=2)
    client = client_for(["account:read"])
    assert [client.get("/v2/account").status_code for _ in range(3)] == [500, 500, 200]


def test_faults_fire_in_the_order_they_were_added(sandbox, client_for):
    sandbox.add_fault(path="/v2/account", status=502)
    sandbox.add_fault(path="/v2/account", status=504)
    client = client_for(["account:read"])
    assert [client.get("/v2/account").status_code for _ in range(3)] == [502, 504, 200]


def test_a_fault_matches_on_method_whole_path_and_token(sandbox, client_for):
    target = sandbox.add_token(KEY_SCOPES)
    sandbox.add_fault(method="POST", path="/v2/spaces/keys", token=target, status=500, times=None)
    bystander = client_for(KEY_SCOPES)
    victim = client_for(token=target)
    assert bystander.post("/v2/spaces/keys", json=KEY).status_code == 201
    assert victim.get("/v2/spaces/keys").status_code == 200
    access_key = sandbox.spaces_keys()[0]["access_key"]
    assert victim.get(f"/v2/spaces/keys/{access_key}").status_code == 200
    assert victim.post("/v2/spaces/keys", json=KEY).status_code == 500


def test_a_fault_that_answers_first_changes_nothing(sandbox, client_for):
    sandbox.add_fault(method="POST", path="/v2/spaces/keys", status=500)
    client = client_for(KEY_SCOPES)
    before = sandbox.snapshot()
    assert client.post("/v2/spaces/keys", json=KEY).status_code == 500
    assert sandbox.snapshot() == before


def test_an_after_fault_does_the_work_and_loses_the_answer(sandbox, client_for):
    sandbox.add_fault(method="POST", path="/v2/spaces/keys", status=500, after=True)
    response = client_for(KEY_SCOPES).post("/v2/spaces/keys", json=KEY)
    assert response.status_code == 500
    assert "faulty" in {key["name"] for key in sandbox.spaces_keys()}


def test_a_delay_slows_the_answer_down(sandbox, client_for):
    sandbox.add_fault(path="/v2/account", delay=0.3)
    client = client_for(["account:read"])
    started = time.monotonic()
    assert client.get("/v2/account").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_delay_longer_than_the_clients_patience_is_a_timeout(sandbox):
    sandbox.add_fault(path="/v2/account", delay=30)
    token = sandbox.add_token(["account:read"])
    with (
        httpx.Client(base_url=sandbox.url, timeout=0.2) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.get("/v2/account", headers={"Authorization": f"Bearer {token}"})


def test_a_dropped_connection_gets_no_answer_at_all(sandbox, client_for):
    sandbox.add_fault(path="/v2/account", drop=True)
    client = client_for(["account:read"])
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/v2/account")
    assert client.get("/v2/account").status_code == 200
    assert sandbox.requests()[0]["status"] is None


def test_a_dropped_answer_after_the_work_still_creates_the_key(sandbox, client_for):
    sandbox.add_fault(method="POST", path="/v2/spaces/keys", drop=True, after=True)
    with pytest.raises(httpx.RemoteProtocolError):
        client_for(KEY_SCOPES).post("/v2/spaces/keys", json=KEY)
    assert "faulty" in {key["name"] for key in sandbox.spaces_keys()}


def test_kill_pid_signals_the_client_right_after_a_successful_mutation(sandbox, client_for):
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        sandbox.add_fault(method="POST", path="/v2/spaces/keys", kill_pid=victim.pid)
        response = client_for(KEY_SCOPES).post("/v2/spaces/keys", json=KEY)
        assert response.status_code == 201
        assert victim.wait(timeout=10) == -signal.SIGKILL
        assert response.json()["key"]["access_key"] in {
            key["access_key"] for key in sandbox.spaces_keys()
        }
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def test_kill_pid_can_kill_a_sleep_with_another_signal(sandbox, client_for):
    victim = subprocess.Popen(["sleep", "60"])
    try:
        sandbox.add_fault(path="/v2/account", kill_pid=victim.pid, kill_signal=signal.SIGTERM)
        assert client_for(["account:read"]).get("/v2/account").status_code == 200
        assert victim.wait(timeout=10) == -signal.SIGTERM
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def test_clear_faults_disarms_everything(sandbox, client_for):
    sandbox.add_fault(status=500, times=None)
    sandbox.clear_faults()
    assert client_for(["account:read"]).get("/v2/account").status_code == 200


def test_the_request_log_marks_faulted_requests(sandbox, client_for):
    sandbox.add_fault(path="/v2/account", status=500)
    client = client_for(["account:read"])
    client.get("/v2/account")
    client.get("/v2/account")
    assert [(e["status"], e["fault"]) for e in sandbox.requests()] == [(500, True), (200, False)]
    sandbox.reset_request_log()
    assert sandbox.requests() == []
