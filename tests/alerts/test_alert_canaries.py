"""Plant a token, a signing secret and a Slack URL; run every alert path; find them nowhere."""

import logging
import sqlite3
import traceback
from datetime import timedelta

import pytest
from alerts_support import CANARIES, CANARY_TOKEN, SIGNING_SECRET, SLACK_PATH, token_alert

from rotator.alerts import Alert, Dispatcher
from rotator.errors import AlertError


def test_no_canary_reaches_a_payload_a_header_a_log_an_error_or_the_store(
    tmp_path, store, webhook, slack, receiver, http, clock, caplog
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # httpx logs each URL at INFO
    dispatcher = Dispatcher(
        store, [webhook, slack], http, now=clock, reminder=timedelta(hours=1), max_attempts=2
    )
    careless = Alert.of(
        "token_too_broad",
        "prod",
        title=f"token {CANARY_TOKEN} is too broad",
        text=f"the token {CANARY_TOKEN} holds api:write",
        occurred_at=clock(),
        facts={"token_fingerprint": token_alert().facts["token_fingerprint"], "oops": CANARY_TOKEN},
    )
    errors: list[BaseException] = []

    dispatcher.raise_condition(token_alert())
    dispatcher.raise_condition(careless)
    dispatcher.flush()
    dispatcher.send_test()

    receiver.status = 500
    receiver.reply = f"echo {SIGNING_SECRET} {SLACK_PATH} {CANARY_TOKEN}".encode()
    clock.advance(hours=2)
    dispatcher.raise_condition(token_alert())
    dispatcher.flush()
    dispatcher.send_test()
    for channel in (webhook, slack):
        with pytest.raises(AlertError) as caught:
            channel.send(token_alert(), http)
        errors.append(caught.value)

    receiver.stop()
    clock.advance(hours=2)
    dispatcher.flush()  # the second attempt: given up
    dispatcher.clear_condition("token_invalid", "prod")
    dispatcher.flush()
    for channel in (webhook, slack):
        with pytest.raises(AlertError) as caught:
            channel.send(token_alert(), http)
        errors.append(caught.value)

    assert len(receiver.requests) >= 8
    http_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("[redacted]" in line for line in http_lines), "the httpx URL line was not seen"
    texts = [request.body.decode() for request in receiver.requests]
    texts += [
        f"{name}: {value}"
        for request in receiver.requests
        for name, value in request.headers.items()
        if name != "x-rotator-signature"
    ]
    texts += [record.getMessage() for record in caplog.records]
    texts += ["".join(traceback.format_exception(error)) for error in errors]
    db = sqlite3.connect(f"file:{tmp_path / 'state' / 'rotator.db'}?mode=ro", uri=True)
    try:
        texts += list(db.iterdump())
    finally:
        db.close()
    everything = "\n".join(texts)
    assert "alert_gave_up" in everything and "answered 500" in everything
    for canary in CANARIES:
        assert canary not in everything
