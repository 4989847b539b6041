from datetime import datetime

import pytest
from alerts_support import CANARY_TOKEN, START, token_alert

from rotator.alerts import EVENTS, Alert

REQUIRED_EVENTS = {
    "token_invalid",
    "token_missing_scopes",
    "token_too_broad",
    "token_expiring",
    "token_old",
    "account_locked",
    "rotation_succeeded",
    "rotation_failed",
    "sink_failed",
    "revoke_failed",
    "test",
}


def test_the_event_list_holds_every_event_the_issue_names():
    assert set(EVENTS) >= REQUIRED_EVENTS
    for name in REQUIRED_EVENTS - {"rotation_succeeded", "test"}:
        assert EVENTS[name].condition, name


def test_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown alert event"):
        Alert.of("token_exploded", "prod", title="t", text="t", occurred_at=START)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        Alert.of("test", "x", title="t", text="t", occurred_at=datetime(2030, 1, 1))


def test_facts_must_be_strings():
    with pytest.raises(TypeError):
        Alert.of("test", "x", title="t", text="t", occurred_at=START, facts={"count": 3})  # type: ignore[dict-item]


def test_a_token_pasted_into_an_alert_by_mistake_is_redacted():
    alert = Alert.of(
        "token_invalid",
        "prod",
        title=f"bad {CANARY_TOKEN}",
        text=f"token {CANARY_TOKEN} failed",
        occurred_at=START,
        facts={"token": CANARY_TOKEN},
    )
    assert CANARY_TOKEN not in str(alert.to_json())
    assert alert.facts["token"] == "[redacted-token]"


def test_an_alert_survives_a_round_trip_through_json_with_its_fact_order():
    alert = token_alert()
    again = Alert.from_json(alert.to_json())
    assert again == alert
    assert list(again.facts) == ["connection", "token_fingerprint", "reason"]


def test_a_resolved_notice_is_info_and_its_headline_says_resolved():
    alert = token_alert(resolved=True)
    assert alert.severity == "info"
    assert alert.headline.startswith("RESOLVED: ")
    assert token_alert().severity == "critical"


def test_the_condition_key_is_event_and_subject():
    assert token_alert(subject="staging").condition == "token_invalid:staging"


def test_facts_cannot_be_changed_after_the_alert_is_made():
    alert = token_alert()
    with pytest.raises(TypeError):
        alert.facts["reason"] = "other"  # type: ignore[index]
