"""Plant canary tokens, run the whole CLI surface, and find them nowhere."""

import json
import time

from tests.support.cli import ROTATION_SCOPES, media_policy

SCOPES = ["account:read", "spaces_key:read"]


def test_no_token_reaches_output_logs_the_store_or_the_request_log(initialised, sandbox):
    run = initialised
    run.env["ROTATOR_LOG_LEVEL"] = "DEBUG"  # the chattiest logs are the riskiest
    first = sandbox.add_token(SCOPES)
    second = sandbox.add_token(SCOPES)
    revoked = sandbox.add_token(SCOPES)
    sandbox.revoke_token(revoked)
    legacy = sandbox.add_token(SCOPES, kind="legacy")
    refresh = "dor_v1_" + first[7:]
    malformed = first.upper()
    canaries = [first, second, revoked, legacy, refresh, malformed, first[7:]]

    run.add("prod", first, "--description", "canary")
    run.add("legacy", legacy)
    run.add("bad", revoked)
    run.add("bad", revoked, "--no-validate")
    run.add("refresh", refresh)
    run.add("malformed", malformed)
    run("connection", "list")
    run("connection", "list", "--json")
    run("connection", "show", "prod")
    run("connection", "show", "prod", "--json")
    run("connection", "validate", "--all")
    run("connection", "validate", "--all", "--json")
    run("connection", "update", "prod", "--token-stdin", stdin=second)
    run("connection", "update", "prod", "--token-stdin", stdin=malformed)
    sandbox.add_fault(path="^/v2/account$", times=4, status=500)
    run("connection", "validate", "prod")
    sandbox.add_fault(path="^/v2/account$", times=4, drop=True)
    run("connection", "validate", "prod")
    run("status")
    run("status", "--json")
    run("history")
    run("history", "--json")
    run("config", "check")
    run("rekey")
    run("connection", "validate", "prod")
    run("connection", "remove", "bad", "--yes")

    assert len(run.transcript) >= 25
    assert any(result.code == 0 for result in run.transcript)
    outputs = "\n".join(result.output for result in run.transcript)
    files = b"".join(path.read_bytes() for path in run.state_dir.rglob("*") if path.is_file())
    request_log = json.dumps(sandbox.requests(), default=str)
    for canary in canaries:
        assert canary not in outputs
        assert canary.encode() not in files
        assert canary not in request_log


def test_no_spaces_secret_reaches_output_logs_or_the_store_during_rotation(initialised, sandbox):
    run = initialised
    run.env["ROTATOR_LOG_LEVEL"] = "DEBUG"
    app_id = sandbox.app_ids()[0]
    run.config.write_text(media_policy(app_id, grace="1s"))
    run.add("prod", sandbox.add_token(ROTATION_SCOPES))
    secrets_seen: set[str] = set()

    def remember() -> None:  # keys get deleted, so collect their secrets while they live
        secrets_seen.update(key["secret_key"] for key in sandbox.spaces_keys())

    remember()
    run("rotate", "media", "--dry-run")
    run("rotate", "media", "--json")
    remember()
    sandbox.fail_next_deployment(app_id, "ERROR")
    time.sleep(1.1)  # past the grace period, so the next rotation revokes
    run("rotate", "media")
    remember()
    run("rotate", "media", "--json")
    remember()
    run("status", "--json")
    run("history", "--json")
    run("config", "check")
    run("rekey")
    assert len(secrets_seen) >= 3
    outputs = "\n".join(result.output for result in run.transcript)
    files = b"".join(path.read_bytes() for path in run.state_dir.rglob("*") if path.is_file())
    request_log = json.dumps(sandbox.requests(), default=str)
    for secret in secrets_seen:
        assert secret not in outputs
        assert secret.encode() not in files
        assert secret not in request_log
