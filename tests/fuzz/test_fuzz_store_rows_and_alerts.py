"""Fuzz what rotator reads back from its store and what it builds for alert channels.

Stored JSON (a cached scope report, an outbox alert) may be damaged or edited
by hand: its decoder returns the record or raises what its caller handles
(KeyError, TypeError, ValueError: the cache is skipped, the outbox row is
given up), never anything else. A webhook or Slack payload built from any
alert text is valid JSON, signed so the receiver can check it, and never
carries the channel's secret or a token.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from rotator.alerts.base import EVENTS, Alert
from rotator.alerts.slack import SlackChannel, blocks
from rotator.alerts.webhook import SIGNATURE_HEADER, WebhookChannel, verify_signature
from rotator.audit.report import ScopeReport
from rotator.secret import Secret
from tests.fuzz.fuzz_support import (
    CANARY_SECRET,
    CANARY_TOKEN,
    FUZZ,
    json_values,
    objects_with,
)

# What a decoder of stored JSON may raise: its caller treats the row as unreadable.
DECODE_ERRORS = (KeyError, TypeError, ValueError)

REPORT_FIELDS = [
    "format", "name", "token_hash", "audited_at", "source", "verdict", "reason", "required",
    "granted", "missing", "excess", "unknown", "not_probed", "full_access", "token_scopes",
    "blast_radius", "defect", "notes", "warnings", "probe_calls", "api_calls", "expires_at",
    "token_created_at",
]  # fmt: skip
ALERT_FIELDS = [
    "id", "event", "subject", "severity", "resolved", "title", "text", "facts", "occurred_at",
]  # fmt: skip
moments = st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat) | st.text(max_size=30)
blast = objects_with(["counts", "deletable", "modifiable"])


def _report_like(values: dict) -> dict:
    values.setdefault("format", 1)
    return values


@FUZZ
@given(
    json_values
    | objects_with(REPORT_FIELDS).map(_report_like)
    | st.fixed_dictionaries(
        {
            **{name: json_values for name in REPORT_FIELDS},
            "audited_at": moments,
            "blast_radius": st.none() | blast,
        }
    ).map(_report_like)
)
def test_a_stored_scope_report_decodes_or_is_skipped(data):
    try:
        report = ScopeReport.from_json(data)
    except DECODE_ERRORS:
        return
    assert isinstance(report, ScopeReport)


@FUZZ
@given(
    json_values
    | objects_with(ALERT_FIELDS)
    | st.fixed_dictionaries(
        {
            "id": json_values,
            "event": st.sampled_from(sorted(EVENTS)) | st.text(max_size=10),
            "subject": json_values,
            "severity": st.sampled_from(["critical", "warning", "info"]) | json_values,
            "resolved": json_values,
            "title": json_values,
            "text": json_values,
            "facts": json_values,
            "occurred_at": moments,
        }
    )
)
def test_a_stored_outbox_alert_decodes_or_is_given_up(data):
    try:
        alert = Alert.from_json(data)
    except DECODE_ERRORS:
        return
    assert isinstance(alert, Alert)


free_text = st.text(max_size=200) | st.sampled_from([CANARY_TOKEN, f"token {CANARY_TOKEN} leaked"])
alerts = st.builds(
    Alert.of,
    st.sampled_from(sorted(EVENTS)),
    free_text,
    title=free_text,
    text=free_text,
    occurred_at=st.datetimes(timezones=st.just(UTC)),
    facts=st.dictionaries(st.text(max_size=20), free_text, max_size=6),
    resolved=st.booleans(),
)


@FUZZ
@given(alerts)
def test_a_webhook_payload_is_signed_json_without_the_secret_or_a_token(alert):
    channel = WebhookChannel("ops", "https://hooks.example.test/in", Secret(CANARY_SECRET))
    request = channel._request(alert)
    document = json.loads(request.body)
    assert document["event"] == alert.event and document["id"] == alert.id
    now = float(request.headers[SIGNATURE_HEADER].split(",")[0].removeprefix("t="))
    assert verify_signature(CANARY_SECRET, request.headers[SIGNATURE_HEADER], request.body, now=now)
    assert CANARY_SECRET.encode() not in request.body
    assert CANARY_TOKEN.encode() not in request.body


@FUZZ
@given(alerts)
def test_a_slack_payload_is_json_without_a_token(alert):
    document = blocks(alert)
    text = json.dumps(document)
    assert CANARY_TOKEN not in text
    channel = SlackChannel("team", Secret("https://hooks.slack.test/services/" + CANARY_SECRET))
    request = channel._request(alert)
    assert json.loads(request.body) == document
