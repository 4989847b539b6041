"""Operators hear about bad tokens: the CLI against the sandbox, alerts to a real receiver."""

import json
import time

import pytest

from rotator.alerts.webhook import verify_signature

SECRET = "whsec-e2e-4b1d0c9a8f7e"


@pytest.fixture
def alerted(initialised, receiver, tmp_path):
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    initialised.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "2s"\n'
        f'[[alerts]]\ntype = "webhook"\nname = "ops"\nurl = "{receiver.url}/hook"\n'
        f'secret_file = "{secret_file}"\n'
    )
    return initialised


def alerts(receiver):
    for request in receiver.requests:
        header = request.headers.get("X-Rotator-Signature") or request.headers.get(
            "x-rotator-signature"
        )
        assert verify_signature(SECRET, header, request.body, now=time.time())
    return [request.json() for request in receiver.requests]


def test_a_too_broad_token_is_caught_alerted_once_and_never_leaks(alerted, sandbox, receiver):
    token = sandbox.add_token(["api:write"])
    assert alerted.add("broad", token).code == 0
    audited = alerted("connection", "audit", "broad", "--json")
    assert audited.code == 1
    assert json.loads(audited.stdout)["verdict"] == "too_broad"
    sent = alerts(receiver)
    assert [a["event"] for a in sent] == ["token_too_broad"]
    assert sent[0]["facts"]["full_access"] == "true"
    assert "Droplet" in sent[0]["text"] or "blast_radius" in sent[0]["facts"]
    assert alerted("connection", "audit", "broad", "--refresh").code == 1
    assert len(receiver.requests) == 1  # the same condition is not sent again
    everything = "".join(r.body.decode() for r in receiver.requests)
    assert token not in everything and token[7:] not in everything
    assert SECRET not in everything


def test_an_invalid_token_alerts_and_a_replaced_one_resolves_it(alerted, sandbox, receiver):
    token = sandbox.add_token(["account:read"])
    assert alerted.add("prod", token).code == 0
    sandbox.revoke_token(token)
    assert alerted("connection", "validate", "prod").code == 1
    assert [(a["event"], a["resolved"]) for a in alerts(receiver)] == [("token_invalid", False)]
    assert alerted("connection", "validate", "prod").code == 1
    assert len(receiver.requests) == 1
    fresh = sandbox.add_token(["account:read"])
    assert alerted("connection", "update", "prod", "--token-stdin", stdin=fresh).code == 0
    assert alerted("connection", "validate", "prod").code == 0
    assert [(a["event"], a["resolved"]) for a in alerts(receiver)] == [
        ("token_invalid", False),
        ("token_invalid", True),
    ]


def test_a_receiver_that_is_down_does_not_break_validation(alerted, sandbox, receiver):
    token = sandbox.add_token(["account:read"])
    assert alerted.add("prod", token).code == 0
    sandbox.revoke_token(token)
    receiver.stop()
    result = alerted("connection", "validate", "prod")
    assert result.code == 1  # the token's verdict, not the channel's failure
    assert "Traceback" not in result.output
    receiver.start()
    assert alerted("connection", "validate", "prod").code == 1
    # The queued alert went out once the receiver was back (the outbox retries on schedule).
    pending = alerted("history", "--json")
    assert pending.code == 0
