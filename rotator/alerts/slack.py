"""Slack incoming-webhook channel: Block Kit laid out for a phone screen.

Layout: a header (an emoji for the severity, or a check mark once resolved,
then the title), a section with the text, a section of up to ten short
``fields`` (Slack's limit) for the facts, and a context line with the time
(shown in each reader's own time zone) and "rotator". The top-level ``text``
is the notification fallback. The webhook URL is itself a secret: it never
appears in an error, a log line or a payload.
"""

from __future__ import annotations

import builtins
from typing import Any, ClassVar, Final, Literal

from pydantic import SecretStr, model_validator

from rotator.alerts.base import (
    Alert,
    Channel,
    ChannelConfig,
    Request,
    json_body,
    register_secret,
)
from rotator.configtypes import ReadableFile, one_of, read_secret
from rotator.errors import ConfigError
from rotator.secret import Secret

MAX_FIELDS: Final = 10  # Slack rejects a section with more
MAX_HEADER: Final = 150  # plain_text limit of a header block
MAX_FIELD_VALUE: Final = 300  # short enough to read on a phone
MAX_TEXT: Final = 2900  # section text limit is 3000
EMOJI: Final = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "info": ":information_source:",
}
RESOLVED_EMOJI: Final = ":white_check_mark:"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label(key: str) -> str:
    """A fact's key as a person reads it: ``token_fingerprint`` → ``Token fingerprint``."""
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _fields(facts: list[tuple[str, str]]) -> list[dict[str, str]]:
    """One mrkdwn field per fact; past ten, the last field names what was left out."""
    shown = facts if len(facts) <= MAX_FIELDS else facts[: MAX_FIELDS - 1]
    fields = [
        {
            "type": "mrkdwn",
            "text": f"*{escape(_cut(label(key), 80))}*\n{escape(_cut(value, MAX_FIELD_VALUE))}",
        }
        for key, value in shown
    ]
    hidden = facts[len(shown) :]
    if hidden:
        names = ", ".join(label(key) for key, _ in hidden)
        text = f"*{len(hidden)} more*\n{escape(_cut(names, MAX_FIELD_VALUE))}"
        fields.append({"type": "mrkdwn", "text": text})
    return fields


def blocks(alert: Alert) -> dict[str, Any]:
    """The whole Slack message for ``alert``: fallback ``text`` plus ``blocks``."""
    emoji = RESOLVED_EMOJI if alert.resolved else EMOJI[alert.severity]
    unix = int(alert.occurred_at.timestamp())
    stamp = alert.occurred_at.strftime("%Y-%m-%d %H:%M UTC")
    message: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(f"{emoji} {alert.headline}", MAX_HEADER),
                "emoji": True,
            },
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(_cut(alert.text, MAX_TEXT))}},
    ]
    facts = list(alert.facts.items())
    if facts:
        message.append({"type": "section", "fields": _fields(facts)})
    message.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    # Slack renders <!date^...> in each reader's time zone; the
                    # text after | is what clients that cannot do that show.
                    "text": f"<!date^{unix}^{{date_short_pretty}} {{time}}|{stamp}>"
                    f" · rotator · {escape(alert.event)}",
                }
            ],
        }
    )
    fallback = f"{alert.headline} ({alert.subject})"
    return {"text": escape(_cut(fallback, MAX_HEADER)), "blocks": message}


class SlackAlertConfig(ChannelConfig):
    """``type = "slack"``: a Slack incoming webhook (its URL is a secret)."""

    type: Literal["slack"]
    url: SecretStr | None = None
    url_file: ReadableFile | None = None

    @model_validator(mode="after")
    def _url_given(self) -> SlackAlertConfig:
        one_of(self, "url", "url_file")
        return self

    def build(self, name: str) -> SlackChannel:
        url = read_secret(self.url, self.url_file, f"alert channel {name}: webhook URL")
        if not url.reveal().startswith(("https://", "http://")):
            # Say what is wrong without echoing the (secret) value.
            raise ConfigError("config", [f"alert channel {name}: the Slack URL is not a URL"])
        return SlackChannel(name, url)


class SlackChannel(Channel):
    """Posts each alert to a Slack incoming webhook."""

    type: ClassVar[str] = "slack"
    Config: ClassVar[builtins.type[ChannelConfig]] = SlackAlertConfig

    def __init__(self, name: str, url: Secret) -> None:
        text = url.reveal()
        super().__init__(name, text)
        for part in self._secret_parts():
            register_secret(part)

    def _request(self, alert: Alert) -> Request:
        return Request(self._url, json_body(blocks(alert)))

    def describe(self) -> str:
        return f"post each alert as a Block Kit message to Slack at {self.target} " + (
            f"(channel {self.name})"
        )
