"""``python -m rotator.sandbox`` with a state file, the admin API, and loopback-only binding."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys

import httpx
import pytest

from rotator.sandbox import Sandbox
from tests.sandbox.helpers import assert_error

GRANT = [{"bucket": "media", "permission": "read"}]


class RunningSandbox:
    """The sandbox as a foreground process, the way an operator runs it."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rotator.sandbox", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=10)
        return self.process.returncode, stderr


@pytest.fixture
def run_sandbox():
    started: list[RunningSandbox] = []

    def run(*args: str) -> RunningSandbox:
        started.append(RunningSandbox(*args))
        return started[-1]

    yield run
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
        running.process.communicate(timeout=10)


def test_the_state_file_survives_a_restart(tmp_path, run_sandbox):
    state = tmp_path / "sandbox.json"
    first = run_sandbox("--state", str(state))
    assert first.url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=first.url, timeout=10) as admin:
        token = admin.post("/_sandbox/tokens", json={"scopes": ["api:write"]}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=first.url, headers=headers, timeout=10) as client:
        created = client.post("/v2/spaces/keys", json={"name": "kept", "grants": GRANT})
        assert created.status_code == 201
        app_id = client.get("/v2/apps").json()["apps"][0]["id"]
        sealed = client.get(f"/v2/apps/{app_id}").json()["app"]["spec"]
    assert first.stop() == (0, "")

    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert token not in state.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["sandbox.json"]

    second = run_sandbox("--state", str(state))
    with httpx.Client(base_url=second.url, headers=headers, timeout=10) as client:
        names = [key["name"] for key in client.get("/v2/spaces/keys").json()["keys"]]
        assert "kept" in names
        assert len(client.get("/v2/apps").json()["apps"]) == 1
        # Sealed values issued before the restart still read back the same.
        assert client.get(f"/v2/apps/{app_id}").json()["app"]["spec"] == sealed
    assert second.stop()[0] == 0


def test_the_state_is_saved_after_each_change_not_only_at_exit(tmp_path, run_sandbox):
    state = tmp_path / "sandbox.json"
    running = run_sandbox("--state", str(state), "--no-seed")
    with httpx.Client(base_url=running.url, timeout=10) as admin:
        admin.post("/_sandbox/spaces/keys", json={"name": "saved-now", "grants": GRANT})
    running.process.kill()
    running.process.communicate(timeout=10)
    assert "saved-now" in state.read_text()


def test_a_non_loopback_host_is_refused_on_the_command_line(run_sandbox):
    refused = run_sandbox("--host", "0.0.0.0")
    code, stderr = refused.stop()
    assert code == 2
    assert stderr.strip().startswith("error: ")
    assert "loopback" in stderr
    assert refused.url == ""


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com", "::"])
def test_a_non_loopback_host_is_refused_in_process(host):
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(seed=False).start(host=host)


def test_localhost_binds_to_the_ipv4_loopback():
    with Sandbox(seed=False).start(host="localhost") as box:
        assert box.url.startswith("http://127.0.0.1:")


def test_the_ipv6_loopback_works_where_available():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        box = Sandbox(seed=False).start(host="::1")
    except OSError as exc:
        pytest.skip(f"cannot bind ::1 here: {exc}")
    with box, httpx.Client(timeout=10) as client:
        assert box.url.startswith("http://[::1]:")
        assert client.get(f"{box.url}/v2/account").status_code == 401


def test_a_loaded_state_is_not_seeded_again(tmp_path):
    state = tmp_path / "state.json"
    with Sandbox(state, seed=True) as first:
        first_apps = first.app_ids()
    with Sandbox(state, seed=True) as second:
        assert second.app_ids() == first_apps


def test_the_admin_api_mints_and_revokes_tokens(sandbox):
    with httpx.Client(base_url=sandbox.url, timeout=10) as admin:
        minted = admin.post("/_sandbox/tokens", json={"scopes": ["account:read"], "kind": "oauth"})
        assert minted.status_code == 201
        token = minted.json()["token"]
        assert token.startswith("doo_v1_")
        auth = {"Authorization": f"Bearer {token}"}
        assert admin.get("/v2/account", headers=auth).status_code == 200
        assert admin.post("/_sandbox/tokens/revoke", json={"token": token}).status_code == 204
        assert admin.get("/v2/account", headers=auth).status_code == 401
        bad = admin.post("/_sandbox/tokens", json={"scopes": ["nope:read"]})
        assert_error(bad, 422, "unprocessable_entity")
        assert_error(admin.post("/_sandbox/tokens/revoke", json={"token": "x"}), 404, "not_found")


def test_the_admin_api_sets_the_account_status(sandbox):
    with httpx.Client(base_url=sandbox.url, timeout=10) as admin:
        answer = admin.put("/_sandbox/account", json={"status": "warning", "message": "pay up"})
        assert answer.json()["account"]["status"] == "warning"
        invalid = admin.put("/_sandbox/account", json={"status": "frozen"})
        assert_error(invalid, 422, "unprocessable_entity")
    assert sandbox.account_info()["status_message"] == "pay up"


def test_the_admin_api_arms_lists_and_clears_faults(sandbox, client_for):
    client = client_for(["account:read"])
    with httpx.Client(base_url=sandbox.url, timeout=10) as admin:
        armed = admin.post("/_sandbox/faults", json={"path": "/v2/account", "status": 500})
        assert armed.status_code == 201
        assert admin.get("/_sandbox/faults").json()["faults"][0]["status"] == 500
        assert client.get("/v2/account").status_code == 500
        admin.post("/_sandbox/faults", json={"status": 502, "times": None})
        assert admin.delete("/_sandbox/faults").status_code == 204
        assert client.get("/v2/account").status_code == 200
        refused = admin.post("/_sandbox/faults", json={"kill_pid": os.getpid()})
        assert_error(refused, 422, "unprocessable_entity")
        assert_error(
            admin.post("/_sandbox/faults", json={"colour": "red"}), 422, "unprocessable_entity"
        )


def test_the_admin_api_is_never_faulted_nor_logged(sandbox):
    sandbox.add_fault(status=500, times=None)
    with httpx.Client(base_url=sandbox.url, timeout=10) as admin:
        assert admin.get("/_sandbox/counts").status_code == 200
        assert admin.get("/_sandbox/requests").json() == {"requests": []}
        assert admin.delete("/_sandbox/requests").status_code == 204


def test_the_admin_api_manages_keys_and_apps(sandbox):
    with httpx.Client(base_url=sandbox.url, timeout=10) as admin:
        key = admin.post("/_sandbox/spaces/keys", json={"name": "admin-key", "grants": GRANT})
        assert key.status_code == 201
        assert key.json()["key"]["secret_key"]
        listed = admin.get("/_sandbox/spaces/keys").json()["keys"]
        assert "admin-key" in {k["name"] for k in listed}

        spec = {"name": "admin-app", "envs": [{"key": "A", "value": "1", "type": "SECRET"}]}
        app_id = admin.post("/_sandbox/apps", json={"spec": spec}).json()["id"]
        assert app_id in admin.get("/_sandbox/apps").json()["apps"]
        truth = admin.get(f"/_sandbox/apps/{app_id}").json()["app"]
        assert truth["spec"]["envs"][0]["value"] == "1"
        assert admin.get(f"/_sandbox/apps/{app_id}/env").json() == {"env": {"A": "1"}}
        failing = admin.post(
            f"/_sandbox/apps/{app_id}/fail-next-deployment", json={"phase": "ERROR"}
        )
        assert failing.status_code == 204
        assert sandbox.app(app_id)["fail_next"] == "ERROR"
        assert_error(admin.get("/_sandbox/apps/nope"), 404, "not_found")
        assert_error(admin.post("/_sandbox/apps", json={}), 422, "unprocessable_entity")


def test_the_admin_api_shows_state_counts_and_the_scope_table(sandbox):
    with httpx.Client(base_url=sandbox.url, timeout=10) as admin:
        assert admin.get("/_sandbox/state").json() == sandbox.snapshot()
        assert admin.get("/_sandbox/counts").json()["droplets"] == 2
        rows = admin.get("/_sandbox/scopes").json()["endpoints"]
        assert {
            "method": "POST",
            "path": "/v2/spaces/keys",
            "scopes": ["spaces_key:create_credentials"],
            "operation": "spacesKey_create",
            "family": None,
        } in rows
        assert_error(admin.get("/_sandbox/nothing"), 404, "not_found")


def test_every_answer_names_its_request(sandbox, client_for):
    client = client_for(["spaces_key:read", "spaces_key:delete"])
    access_key = sandbox.spaces_keys()[0]["access_key"]
    for response in (
        client.get("/v2/account"),
        client.get("/v2/spaces/keys"),
        client.delete(f"/v2/spaces/keys/{access_key}"),
        client.get("/nowhere"),
    ):
        assert response.headers["x-request-id"]
    ids = [entry["request_id"] for entry in sandbox.requests()]
    assert len(set(ids)) == len(ids) == 4


def test_the_sandbox_can_be_started_again_after_a_stop():
    box = Sandbox(seed=False)
    with box:
        token = box.add_token(["account:read"])
    with box, httpx.Client(timeout=10) as client:
        answer = client.get(f"{box.url}/v2/account", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200


def test_a_damaged_state_file_is_a_one_line_error(tmp_path, run_sandbox):
    state = tmp_path / "sandbox.json"
    state.write_text('{"version": 1}')
    code, stderr = run_sandbox("--state", str(state)).stop()
    assert code == 2
    assert stderr.startswith("error: ")
    assert "not a sandbox state file" in stderr
    assert len(stderr.strip().splitlines()) == 1
