"""The contract every registered alert channel keeps, run over CHANNEL_TYPES.

A new channel type needs an entry in EXAMPLES (a config pointing at the
local receiver); the first test fails until it has one.
"""

import traceback
import typing
from collections.abc import Iterator

import pytest
from alerts_support import (
    CANARIES,
    CANARY_TOKEN,
    SIGNING_SECRET,
    SLACK_PATH,
    WEBHOOK_PATH,
    token_alert,
)

from rotator.alerts import CHANNEL_TYPES, CHANNELS, Channel, ChannelConfig
from rotator.alerts.slack import SlackAlertConfig
from rotator.alerts.webhook import WebhookAlertConfig
from rotator.errors import AlertError, RotatorError
from rotator.settings import parse_config
from tests.hostile import HOSTILE, hostile_server

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
    assert caught.value.transient  # it may pass on its own
    assert caught.value.__cause__ is not None  # the httpx error, kept for debugging
    assert_no_secret("".join(traceback.format_exception(caught.value)))


@pytest.mark.parametrize("status", [400, 404, 410])
def test_a_refusal_is_not_transient_and_a_server_failure_is(channel, receiver, http, status):
    receiver.status = status
    with pytest.raises(AlertError) as refused:
        channel.send(token_alert(), http)
    assert not refused.value.transient
    receiver.status = 503
    with pytest.raises(AlertError) as failed:
        channel.send(token_alert(), http)
    assert failed.value.transient


@pytest.fixture(params=sorted(HOSTILE))
def hostile_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with hostile_server(request.param) as url:
        yield url


@pytest.mark.parametrize("kind", sorted(CHANNEL_TYPES))
def test_no_third_party_exception_leaves_a_channel_untranslated(kind, hostile_url, http):
    channel = EXAMPLES[kind](hostile_url).build(f"{kind}-hostile")
    try:
        channel.send(token_alert(), http)
    except AlertError as error:  # the only way a channel may fail
        assert error.channel == channel.name
        assert "\n" not in str(error)
        assert_no_secret(str(error))
    # Anything else (httpx, ValueError...) fails this test.


@pytest.mark.parametrize("channel_class", CHANNELS, ids=lambda channel: channel.type)
def test_a_channel_class_names_its_config_model_and_the_settings_accept_its_table(
    channel_class, tmp_path
):
    assert CHANNEL_TYPES[channel_class.type] is channel_class
    assert issubclass(channel_class.Config, ChannelConfig)
    annotation = channel_class.Config.model_fields["type"].annotation
    assert typing.get_args(annotation) == (channel_class.type,)
    example = EXAMPLES[channel_class.type]("https://ops.example.com")
    table = example.model_dump(mode="json", exclude_none=True)
    for name, value in example.model_dump(exclude_none=True).items():
        if hasattr(value, "get_secret_value"):
            table[name] = value.get_secret_value()
    [config] = parse_config({"alerts": [table]}).alerts
    assert type(config) is channel_class.Config
    assert config == example
    made = config.build("named")
    assert made.name == "named" and made.type == channel_class.type
    assert_no_secret(made.describe())
    assert made.target in made.describe()


def test_an_alert_table_of_an_unregistered_type_names_the_registered_ones():
    with pytest.raises(RotatorError) as caught:
        parse_config({"alerts": [{"type": "pager"}]})
    for name in CHANNEL_TYPES:
        assert name in str(caught.value)
