import json
import time

import pytest
from alerts_support import SIGNING_SECRET, WEBHOOK_PATH, token_alert

from rotator import __version__
from rotator.alerts import WebhookChannel, verify_signature
from rotator.alerts.webhook import sign
from rotator.secret import Secret


def delivered(receiver):
    [request] = receiver.to(WEBHOOK_PATH)
    return request


def test_a_webhook_alert_arrives_as_signed_json_a_receiver_can_verify(receiver, webhook, http):
    alert = token_alert()
    webhook.send(alert, http)
    request = delivered(receiver)
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"rotator/{__version__}"
    assert request.headers["x-rotator-event"] == "token_invalid"
    header = request.headers["x-rotator-signature"]
    assert verify_signature(SIGNING_SECRET, header, request.body, now=time.time())
    body = request.json()
    assert body == {**alert.to_json(), "source": "rotator", "version": 1}


def test_a_wrong_secret_an_altered_body_or_a_stale_timestamp_fail_verification(
    receiver, webhook, http
):
    webhook.send(token_alert(), http)
    request = delivered(receiver)
    header = request.headers["x-rotator-signature"]
    now = time.time()
    assert verify_signature(SIGNING_SECRET.encode(), header, request.body, now=now)
    assert not verify_signature("another secret", header, request.body, now=now)
    altered = request.body.replace(b'"prod"', b'"prud"')
    assert altered != request.body
    assert not verify_signature(SIGNING_SECRET, header, altered, now=now)
    assert not verify_signature(SIGNING_SECRET, header, request.body, now=now + 301)
    assert not verify_signature(SIGNING_SECRET, header, request.body, now=now - 301)
    assert verify_signature(SIGNING_SECRET, header, request.body, now=now + 600, tolerance=900)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=,v1=" + "0" * 64,
        "t=abc,v1=" + "0" * 64,
        "v1=" + "0" * 64,
        "t=1700000000",
        "t=1700000000,v1=nothex",
        "t=1700000000,t=1700000000,v1=" + "0" * 64,
        "t=-5,v1=" + "0" * 64,
    ],
)
def test_a_malformed_signature_header_is_refused(header):
    assert not verify_signature(SIGNING_SECRET, header, b"{}", now=1700000000)


def test_a_header_carrying_several_signatures_passes_when_one_matches():
    good = sign(SIGNING_SECRET, 1700000000, b"{}")
    header = good.replace("v1=", "v1=" + "0" * 64 + ",v1=")
    assert verify_signature(SIGNING_SECRET, header, b"{}", now=1700000000)


def test_every_attempt_is_signed_afresh_so_a_late_retry_is_not_stale(receiver, http):
    times = iter([1_900_000_000.0, 1_900_003_600.0])
    channel = WebhookChannel(
        "ops", receiver.url + WEBHOOK_PATH, Secret(SIGNING_SECRET), clock=lambda: next(times)
    )
    alert = token_alert()
    channel.send(alert, http)
    channel.send(alert, http)
    first, second = receiver.to(WEBHOOK_PATH)
    assert first.headers["x-rotator-signature"].startswith("t=1900000000,")
    assert second.headers["x-rotator-signature"].startswith("t=1900003600,")
    assert first.body == second.body  # same alert, same id: a receiver can drop the repeat
    assert json.loads(first.body)["id"] == alert.id
    assert verify_signature(
        SIGNING_SECRET, second.headers["x-rotator-signature"], second.body, now=1_900_003_601
    )


def test_the_signing_secret_can_come_from_a_file(tmp_path, receiver, http):
    from rotator.alerts.webhook import WebhookAlertConfig

    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SIGNING_SECRET + "\n")
    config = WebhookAlertConfig(
        type="webhook", url=receiver.url + WEBHOOK_PATH, secret_file=secret_file
    )
    config.build("ops").send(token_alert(), http)
    request = delivered(receiver)
    assert verify_signature(
        SIGNING_SECRET, request.headers["x-rotator-signature"], request.body, now=time.time()
    )
