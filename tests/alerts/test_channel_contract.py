"""The contract every registered alert channel keeps, run over CHANNEL_TYPES.

A new channel type needs an entry in EXAMPLES (a config pointing at the
local receiver); the first test fails until it has one.
"""

import traceback

import pytest
from alerts_support import (
    CANARIES,
    CANARY_TOKEN,
    SIGNING_SECRET,
    SLACK_PATH,
    WEBHOOK_PATH,
    token_alert,
)

from rotator.alerts import CHANNEL_TYPES, Channel
from rotator.alerts.slack import SlackAlertConfig
from rotator.alerts.webhook import WebhookAlertConfig
from rotator.errors import AlertError

EXAMPLES = {
    "webhook": lambda url: WebhookAlertConfig(
        type="webhook", url=url + WEBHOOK_PATH, secret=SIGNING_SECRET
    ),
    "slack": lambda url: SlackAlertConfig(type="slack", url=url + SLACK_PATH),
}
# What each example's receiver may echo back in an error: the channel's own secret.
OWN_SECRET = {"webhook": SIGNING_SECRET, "slack": SLACK_PATH}


def test_every_registered_channel_type_has_a_contract_example():
    assert set(EXAMPLES) == set(CHANNEL_TYPES)


@pytest.fixture(params=sorted(CHANNEL_TYPES))
def channel(request, receiver) -> Channel:
    kind = request.param
    config = EXAMPLES[kind](receiver.url)
    assert isinstance(config, CHANNEL_TYPES[kind].Config)
    made = config.build(f"{kind}-contract")
    assert made.type == kind
    return made


def assert_no_secret(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


def test_a_channel_is_named_by_its_label_and_its_repr_shows_no_secret(channel, receiver):
    assert channel.name.endswith("-contract")
    assert channel.target == receiver.url
    assert_no_secret(repr(channel))


def test_a_channel_posts_one_json_request_per_alert(channel, receiver, http):
    channel.send(token_alert(), http)
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("rotator/")
    assert "token_invalid" in request.body.decode() or "invalid" in request.body.decode()


def test_a_resolved_alert_says_resolved_on_every_channel(channel, receiver, http):
    channel.send(token_alert(resolved=True), http)
    assert b"RESOLVED" in receiver.requests[0].body or receiver.requests[0].json()["resolved"]


def test_an_error_answer_is_an_alert_error_naming_the_channel_and_status(channel, receiver, http):
    receiver.status = 500
    receiver.reply = f"boom {OWN_SECRET[channel.type]} {CANARY_TOKEN}".encode()
    with pytest.raises(AlertError) as caught:
        channel.send(token_alert(), http)
    assert caught.value.channel == channel.name
    assert "answered 500" in str(caught.value)
    assert "boom" in str(caught.value)
    assert_no_secret("".join(traceback.format_exception(caught.value)))


def test_a_receiver_that_is_down_is_an_alert_error_without_the_url(channel, receiver, http):
    receiver.stop()
    with pytest.raises(AlertError) as caught:
        channel.send(token_alert(), http)
    assert "no answer from" in str(caught.value)
    assert caught.value.__cause__ is not None  # the httpx error, kept for debugging
    assert_no_secret("".join(traceback.format_exception(caught.value)))
