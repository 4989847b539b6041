"""Every credential kind, rotated by the CLI through the sandbox into App Platform and OpenBao.

Each test runs once per kind (tests/e2e/kinds_support.py): a rotation end
to end, a dry run that changes nothing, SIGKILL right after each mutating
call followed by a resume, and a canary sweep of the kind's secrets. The
invariants after every step:

- every sink holds field values that open a live credential;
- no credential rotator created is left unrecorded;
- at most the current and previous credentials exist for the policy;
- once nothing is in flight, every sink serves the credential the store calls current.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.e2e.kinds_support import KIND_CASES, KindCase
from tests.support.cli import rotate_killed_after

PATH = "media/credential"


@pytest.fixture(params=sorted(KIND_CASES))
def case(request, sandbox) -> KindCase:
    return KIND_CASES[request.param](sandbox)


@pytest.fixture
def media(initialised, sandbox, bao, case, tmp_path):
    """A policy of the case's kind into an app that holds the original, and into OpenBao."""
    token_file = tmp_path / "vault-token"
    token_file.write_text(bao.root_token + "\n")
    token_file.chmod(0o600)
    app_id = case.seed_app(sandbox, sandbox.app_ids()[0])
    bao.write("secret", PATH, case.original_values())
    vault_sink = f"""
[[policies.sinks]]
type = "vault"
url = "{bao.url}"
mount = "secret"
path = "{PATH}"
token_file = "{token_file}"
"""
    initialised.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "5s"\n' + case.policy(app_id, more_sinks=vault_sink)
    )
    assert initialised.add("prod", sandbox.add_token(case.scopes)).code == 0
    initialised.app_id = app_id
    return initialised


def app_values(run, sandbox, case: KindCase) -> dict[str, str]:
    return case.app_values(sandbox.app_running_env(run.app_id, "web"))


def vault_values(bao, case: KindCase) -> dict[str, str]:
    data = bao.read("secret", PATH)["data"]
    return {name: data[name] for name in case.env.values()}


def assert_invariants(run, sandbox, bao, case: KindCase) -> None:
    alive = case.alive()
    status = json.loads(run("status", "--json").stdout)["policies"][0]
    recorded = {status["current_access_key"], status["previous_access_key"]}
    planned = None
    if status["in_flight"]:
        recorded.add(status["in_flight"]["new_access_key"])
        # Killed between the create and its record: findable by its planned name.
        planned = status["in_flight"]["new_key_name"]
    recorded.discard(None)
    held = [app_values(run, sandbox, case), vault_values(bao, case)]
    for values in held:
        assert case.opens(values)
    if case.findable:
        created = {
            ident
            for ident, record in alive.items()
            if case.made_by_rotator(ident, record) and record["name"] != planned
        }
        assert created <= recorded
    else:
        # Nothing can list what it minted: whatever rotator does not record must end
        # by itself within the policy's expires_in (90 days here).
        for ident, record in alive.items():
            if ident not in recorded and ident != case.original:
                assert record["expires_at_epoch"] is not None
                assert record["expires_at_epoch"] - time.time() <= 90 * 86400
    # Current and previous; registry credentials also the hand-made original, left to expire.
    assert len(alive) <= (2 if case.revokes else 3)
    if not status["in_flight"]:
        current = case.values_of(alive[status["current_access_key"]])
        for values in held:
            assert values == current


def resume(run) -> dict:
    result = run("rotate", "media", "--json")
    assert result.code == 0, result.output
    return json.loads(result.stdout)


def test_a_rotation_reaches_the_app_and_vault_then_revokes_the_old_after_grace(
    media, sandbox, bao, case
):
    result = media("rotate", "media", "--json")
    assert result.code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "succeeded"
    assert [s["status"] for s in document["sinks"]] == ["confirmed", "confirmed"]
    new = document["new_access_key"]
    assert document["old_access_key"] == case.adopted
    original_secret = case.secret_of(case.alive()[case.original])
    alive = case.alive()
    assert set(alive) == {case.original, new}  # the old one lives through the grace period
    assert app_values(media, sandbox, case) == case.values_of(alive[new])
    assert vault_values(bao, case) == case.values_of(alive[new])
    assert bao.metadata("secret", PATH)["custom_metadata"]["rotator-policy"] == "media"
    assert_invariants(media, sandbox, bao, case)
    time.sleep(1.2)  # past the 1 s grace period
    second = resume(media)
    assert second["status"] == "succeeded" and second["old_access_key"] == new
    # Revoked after the grace period, or (registry credentials) left to expire.
    assert (original_secret in case.secrets()) is not case.revokes
    assert (case.original in case.alive()) is not case.revokes
    assert_invariants(media, sandbox, bao, case)
    for secret in case.secrets() | {case.secret_of(alive[new])}:
        assert secret not in "".join(r.output for r in media.transcript)


def test_a_dry_run_changes_nothing_in_digitalocean_vault_or_the_store(media, sandbox, bao, case):
    before = (sandbox.snapshot(), bao.metadata("secret", PATH), media.dump())
    result = media("rotate", "media", "--dry-run", "--json")
    assert result.code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "dry_run"
    assert any(step.startswith(("create ", "get new ")) for step in document["steps"])
    assert (sandbox.snapshot(), bao.metadata("secret", PATH), media.dump()) == before


@pytest.mark.parametrize("call", ["create", "app_update"])
def test_a_rotation_killed_after_a_mutating_call_resumes_and_keeps_every_invariant(
    media, sandbox, bao, case, call
):
    if call == "create":
        method, path = case.create_method, case.create_path
    else:
        method, path = "PUT", "/v2/apps/[^/]+"
    rotate_killed_after(media, sandbox, method, f"^{path}$")
    assert_invariants(media, sandbox, bao, case)
    finished = resume(media)
    assert finished["status"] == "resumed"
    assert_invariants(media, sandbox, bao, case)
    assert finished["new_access_key"] in case.alive()


def test_a_new_credential_that_fails_its_check_reaches_no_sink_and_is_retried(
    media, sandbox, bao, case
):
    if not case.check:
        # Spaces and GenAI keys: DigitalOcean's answer is the proof; a database user is
        # proven by an SQL login (tests/e2e/test_database_user_rotation.py).
        pytest.skip(f"a new {case.kind} has no check over HTTP to fail")
    before = (app_values(media, sandbox, case), vault_values(bao, case))
    sandbox.add_fault(method="GET", path=f"^{case.check}$", status=401, times=1)
    failed = media("rotate", "media", "--json")
    assert failed.code != 0
    assert "nothing was pushed" in failed.output
    assert (app_values(media, sandbox, case), vault_values(bao, case)) == before
    assert_invariants(media, sandbox, bao, case)
    resumed = resume(media)
    assert resumed["status"] == "resumed"
    assert app_values(media, sandbox, case) == case.values_of(
        case.alive()[resumed["new_access_key"]]
    )
    checks = [r["status"] for r in sandbox.requests() if re.fullmatch(case.check, r["path"])]
    assert checks == [401, 200]


def test_a_rotation_killed_after_revoking_the_previous_credential_resumes(
    media, sandbox, bao, case
):
    if not case.revokes:
        # tests/e2e/test_registry_rotation.py kills it after the OAuth revoke of credentials
        # rotator minted; the hand-made original this test revokes is left to expire.
        pytest.skip(f"the original {case.kind} was never held by rotator: left to expire")
    first = resume(media)
    assert first["status"] == "succeeded"
    time.sleep(1.2)  # past the 1 s grace period
    rotate_killed_after(media, sandbox, "DELETE", f"^{case.revoke_path}$")
    assert case.original not in case.alive()
    assert_invariants(media, sandbox, bao, case)
    second = resume(media)
    assert second["status"] == "succeeded"
    assert second["old_access_key"] == first["new_access_key"]
    assert_invariants(media, sandbox, bao, case)


def test_no_secret_of_the_kind_reaches_output_logs_the_store_or_the_request_log(
    media, sandbox, bao, case
):
    media.env["ROTATOR_LOG_LEVEL"] = "DEBUG"
    seen = set(case.secrets())
    media("rotate", "media", "--dry-run")
    media("rotate", "media", "--json")
    seen |= case.secrets()
    sandbox.fail_next_deployment(media.app_id, "ERROR")
    time.sleep(1.1)
    media("rotate", "media")
    seen |= case.secrets()
    media("rotate", "media", "--json")
    seen |= case.secrets()
    for command in (("status", "--json"), ("history", "--json"), ("config", "check"), ("rekey",)):
        media(*command)
    assert len(seen) >= 3
    outputs = "\n".join(result.output for result in media.transcript)
    files = b"".join(path.read_bytes() for path in media.state_dir.rglob("*") if path.is_file())
    request_log = json.dumps(sandbox.requests(), default=str)
    for secret in seen:
        assert secret not in outputs
        assert secret.encode() not in files
        assert secret not in request_log
