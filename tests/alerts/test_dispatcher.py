import time
from datetime import timedelta

import pytest
from alerts_support import SIGNING_SECRET, SLACK_PATH, WEBHOOK_PATH, token_alert

from rotator.alerts import Alert, Dispatcher, verify_signature


@pytest.fixture
def dispatcher(store, webhook, slack, http, clock):
    return Dispatcher(store, [webhook, slack], http, now=clock, reminder=timedelta(hours=24))


def webhook_bodies(receiver):
    return [request.json() for request in receiver.to(WEBHOOK_PATH)]


def test_the_same_condition_raised_twice_is_delivered_once_per_channel(dispatcher, receiver):
    assert dispatcher.raise_condition(token_alert())
    dispatcher.flush()
    assert not dispatcher.raise_condition(token_alert())
    dispatcher.flush()
    assert len(receiver.to(WEBHOOK_PATH)) == 1
    assert len(receiver.to(SLACK_PATH)) == 1
    request = receiver.to(WEBHOOK_PATH)[0]
    assert verify_signature(
        SIGNING_SECRET, request.headers["x-rotator-signature"], request.body, now=time.time()
    )


def test_changed_facts_are_news_and_are_sent_again(dispatcher, receiver, clock):
    assert dispatcher.raise_condition(token_alert(reason="401 Unauthorized"))
    clock.advance(minutes=5)
    assert dispatcher.raise_condition(token_alert(reason="account locked"))
    clock.advance(minutes=5)
    assert not dispatcher.raise_condition(token_alert(reason="account locked"))
    dispatcher.flush()
    assert [body["facts"]["reason"] for body in webhook_bodies(receiver)] == [
        "401 Unauthorized",
        "account locked",
    ]


def test_the_same_facts_in_another_order_are_not_news(dispatcher):
    alert = token_alert()
    reordered = Alert.of(
        alert.event,
        alert.subject,
        title=alert.title,
        text="different words are not news either",
        occurred_at=alert.occurred_at,
        facts=dict(reversed(list(alert.facts.items()))),
    )
    assert dispatcher.raise_condition(alert)
    assert not dispatcher.raise_condition(reordered)


def test_a_reminder_goes_out_once_the_interval_has_passed(dispatcher, receiver, clock):
    assert dispatcher.raise_condition(token_alert())
    clock.advance(hours=23, minutes=59)
    assert not dispatcher.raise_condition(token_alert())
    clock.advance(minutes=1)
    assert dispatcher.raise_condition(token_alert())
    clock.advance(hours=1)
    assert not dispatcher.raise_condition(token_alert())
    dispatcher.flush()
    assert len(receiver.to(WEBHOOK_PATH)) == 2


def test_a_cleared_condition_sends_one_resolved_notice_and_a_second_clear_nothing(
    dispatcher, receiver
):
    dispatcher.raise_condition(token_alert())
    assert dispatcher.clear_condition("token_invalid", "prod", token_alert(resolved=True))
    assert not dispatcher.clear_condition("token_invalid", "prod", token_alert(resolved=True))
    dispatcher.flush()
    bodies = webhook_bodies(receiver)
    assert [body["resolved"] for body in bodies] == [False, True]
    assert bodies[1]["severity"] == "info"
    [_, resolved] = receiver.to(SLACK_PATH)
    assert "RESOLVED: " in resolved.json()["blocks"][0]["text"]["text"]
    assert dispatcher.open_conditions() == []


def test_clearing_a_condition_that_was_never_raised_sends_nothing(dispatcher, receiver):
    assert not dispatcher.clear_condition("token_old", "prod")
    dispatcher.flush()
    assert receiver.requests == []


def test_a_cleared_condition_raised_again_is_news(dispatcher):
    assert dispatcher.raise_condition(token_alert())
    dispatcher.clear_condition("token_invalid", "prod")
    assert dispatcher.raise_condition(token_alert())


def test_without_a_resolved_alert_a_plain_notice_is_built(dispatcher, receiver):
    dispatcher.raise_condition(token_alert("token_old"))
    dispatcher.clear_condition("token_old", "prod")
    dispatcher.flush()
    resolved = webhook_bodies(receiver)[-1]
    assert resolved["resolved"] and resolved["event"] == "token_old"
    assert resolved["title"] == "API token is old: prod"


def test_a_mismatched_or_open_alert_is_a_programming_error(dispatcher):
    with pytest.raises(ValueError):
        dispatcher.raise_condition(token_alert(resolved=True))
    with pytest.raises(ValueError):
        dispatcher.clear_condition("token_old", "prod", token_alert(resolved=True))


def test_open_conditions_say_when_they_opened_and_were_last_sent(dispatcher, clock):
    opened = clock()
    dispatcher.raise_condition(token_alert())
    clock.advance(hours=25)
    dispatcher.raise_condition(token_alert())
    [condition] = dispatcher.open_conditions()
    assert condition.condition == "token_invalid:prod"
    assert condition.opened_at == opened
    assert condition.last_sent_at == clock()


def test_one_shot_notices_are_never_de_duplicated(dispatcher, receiver, clock):
    notice = Alert.of(
        "rotation_succeeded", "media", title="Rotated", text="ok", occurred_at=clock()
    )
    dispatcher.notify(notice)
    dispatcher.notify(notice)
    dispatcher.flush()
    assert len(receiver.to(WEBHOOK_PATH)) == 2


def test_a_test_alert_reaches_every_channel_and_reports_each(dispatcher, receiver, store, webhook):
    results = dispatcher.send_test()
    assert [(r.channel, r.ok, r.error) for r in results] == [
        ("ops", True, None),
        ("team", True, None),
    ]
    assert webhook_bodies(receiver)[0]["event"] == "test"
    receiver.status = 404
    receiver.reply = b"no_service"
    failed = dispatcher.send_test()
    assert not failed[1].ok
    assert failed[1].error == f"alert channel team: {receiver.url} answered 404 (no_service)"
    outcomes = [(e.subject, e.outcome) for e in store.history.page() if e.event == "alert_test"]
    assert outcomes == [("ops", "ok"), ("team", "ok"), ("ops", "failed"), ("team", "failed")]
