import pytest
from alerts_support import CANARIES, SLACK_PATH

from rotator.alerts import SlackChannel, WebhookChannel, build_channels
from rotator.errors import ConfigError
from rotator.settings import parse_config


def alerts(*tables):
    return parse_config({"alerts": list(tables)}).alerts


def hook(**extra):
    return {"type": "webhook", "url": "https://ops.example.com/hook", "secret": "s3cret", **extra}


def test_channels_are_named_by_their_name_else_by_type_and_count():
    channels = build_channels(
        alerts(
            hook(),
            {"type": "slack", "url": "https://hooks.slack.com" + SLACK_PATH},
            hook(name="ops"),
            hook(),
        )
    )
    # The count is the channel's place among channels of its type, named or not.
    assert [channel.name for channel in channels] == ["webhook-1", "slack-1", "ops", "webhook-3"]
    assert [type(channel) for channel in channels] == [
        WebhookChannel,
        SlackChannel,
        WebhookChannel,
        WebhookChannel,
    ]


def test_two_channels_with_one_name_are_a_config_error():
    with pytest.raises(ConfigError, match="two channels are named 'ops'"):
        build_channels(alerts(hook(name="ops"), hook(name="ops")))


def test_every_unreadable_secret_file_is_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as caught:
        build_channels(
            alerts(
                {"type": "webhook", "url": "https://a.example", "secret_file": str(tmp_path / "a")},
                {"type": "slack", "url_file": str(tmp_path / "b")},
            )
        )
    assert len(caught.value.problems) == 2
    assert "webhook-1: signing secret" in str(caught.value)
    assert "slack-1: webhook URL" in str(caught.value)


def test_a_slack_url_that_is_not_a_url_is_refused_without_echoing_it(tmp_path):
    url_file = tmp_path / "slack"
    url_file.write_text(SLACK_PATH.lstrip("/"))
    with pytest.raises(ConfigError) as caught:
        build_channels(alerts({"type": "slack", "url_file": str(url_file)}))
    assert "not a URL" in str(caught.value)
    for canary in CANARIES:
        assert canary not in str(caught.value)
