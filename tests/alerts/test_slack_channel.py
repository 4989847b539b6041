from alerts_support import SLACK_PATH, START, token_alert

from rotator.alerts import Alert
from rotator.alerts.slack import MAX_FIELDS, blocks, escape


def many_facts(count: int) -> Alert:
    return Alert.of(
        "token_too_broad",
        "prod",
        title="Token prod can do more than it needs",
        text="It can delete 14 Droplets and 3 databases.",
        occurred_at=START,
        facts={f"fact_{n}": f"value {n}" for n in range(count)},
    )


def test_a_slack_alert_has_a_header_the_text_the_facts_and_a_context_line(receiver, slack, http):
    alert = token_alert()
    slack.send(alert, http)
    [request] = receiver.to(SLACK_PATH)
    message = request.json()
    assert message == blocks(alert)
    kinds = [block["type"] for block in message["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    header, text, facts, context = message["blocks"]
    assert header["text"]["type"] == "plain_text"
    assert header["text"]["text"] == ":rotating_light: Token prod is invalid"
    assert text["text"] == {"type": "mrkdwn", "text": alert.text}
    assert [field["text"] for field in facts["fields"]] == [
        "*Connection*\nprod",
        f"*Token fingerprint*\n{alert.facts['token_fingerprint']}",
        "*Reason*\n401 Unauthorized",
    ]
    [element] = context["elements"]
    assert element["type"] == "mrkdwn"
    assert f"<!date^{int(START.timestamp())}^" in element["text"]
    assert "rotator" in element["text"]
    assert message["text"] == "Token prod is invalid (prod)"


def test_a_resolved_notice_shows_a_check_mark_and_says_resolved():
    message = blocks(token_alert(resolved=True))
    header = message["blocks"][0]["text"]["text"]
    assert header.startswith(":white_check_mark: RESOLVED: ")
    assert message["text"].startswith("RESOLVED: ")


def test_more_than_ten_facts_fit_in_ten_fields_and_the_last_names_the_rest():
    fields = blocks(many_facts(13))["blocks"][2]["fields"]
    assert len(fields) == MAX_FIELDS
    assert fields[-1]["text"] == "*4 more*\nFact 9, Fact 10, Fact 11, Fact 12"
    assert len(blocks(many_facts(10))["blocks"][2]["fields"]) == 10


def test_an_alert_without_facts_has_no_empty_fields_section():
    alert = Alert.of("test", "x", title="Test", text="Hello", occurred_at=START)
    assert [block["type"] for block in blocks(alert)["blocks"]] == ["header", "section", "context"]


def test_mrkdwn_control_characters_are_escaped_so_no_mention_or_link_is_injected():
    alert = Alert.of(
        "token_invalid",
        "prod",
        title="Token <prod> & co",
        text="<!channel> see <https://evil.example|here> & now",
        occurred_at=START,
        facts={"reason": "<@U123>"},
    )
    message = blocks(alert)
    section = message["blocks"][1]["text"]["text"]
    assert section == "&lt;!channel&gt; see &lt;https://evil.example|here&gt; &amp; now"
    assert message["blocks"][2]["fields"][0]["text"] == "*Reason*\n&lt;@U123&gt;"
    assert message["text"] == "Token &lt;prod&gt; &amp; co (prod)"
    assert escape("a&b") == "a&amp;b"


def test_long_titles_and_values_are_cut_to_what_slack_accepts():
    alert = Alert.of(
        "test",
        "x",
        title="t" * 400,
        text="x" * 5000,
        occurred_at=START,
        facts={"long": "v" * 5000},
    )
    message = blocks(alert)
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    assert len(message["blocks"][1]["text"]["text"]) <= 3000
    assert len(message["blocks"][2]["fields"][0]["text"]) <= 2000
