"""deploy/prometheus/rules.yml, checked offline the way `promtool check rules` would.

promtool is a Go binary we do not have here, so the test does its checks
itself: the YAML has the rule-file shape (groups, rules, only known keys,
durations, label names), every ``expr`` parses as PromQL (``promql-parser``,
Python bindings to the Rust parser used by GreptimeDB) and yields an instant
vector, every annotation template only uses ``$labels`` and ``$value`` in
forms Prometheus knows, and -- beyond promtool -- every metric and label a
rule names exists in a real scrape of rotator's ``/metrics``.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from rotator.digitalocean.stats import ClientStats
from rotator.engine.jobs.base import Summary
from rotator.engine.metrics import DaemonMetrics
from rotator.store.readings import ConnectionReading, PolicyReading, StoreReadings

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"

DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
ALERT_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
GROUP_KEYS = {"name", "interval", "rules", "limit", "query_offset", "labels"}
TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
TEMPLATE_FORMS = re.compile(
    r"^\s*(\$labels\.(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)|\$value"
    r"(\s*\|\s*(humanize|humanize1024|humanizeDuration|humanizePercentage|humanizeTimestamp))?)\s*$"
)
NOT_A_VECTOR = (
    promql_parser.MatrixSelector,
    promql_parser.SubqueryExpr,
    promql_parser.NumberLiteral,
    promql_parser.StringLiteral,
)


class Policy:
    name = "media"
    every = timedelta(days=30)
    grace = timedelta(hours=1)


def scrape() -> dict[str, set[str]]:
    """Every sample name in a scrape of a daemon with one of everything, with its labels."""
    readings = StoreReadings(
        policies={"media": PolicyReading(1.0e9, True, 1.0e9, True, 1.0e9)},
        connections=[ConnectionReading("prod", "0123456789ab", "valid", 2.0e9, "ok")],
        outbox_pending=1,
        outbox_oldest_pending=1.0e9,
    )
    stats = ClientStats()
    stats.answered("0123456789ab", 200)
    metrics = DaemonMetrics(
        stats, started_at=0, read_store=lambda: readings, policies=lambda: [Policy()]
    )
    metrics.job_ran(Summary("rotate", due=1, outcomes=Counter(succeeded=1)), 1.0)
    metrics.loop_turned(1.0)
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.render()):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def selectors(expr: Any) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        elif isinstance(node, promql_parser.MatrixSelector):
            found.append(node.vector_selector)

    promql_parser.walk(expr, visit)
    return found


def test_the_file_has_the_shape_of_a_prometheus_rule_file():
    document = yaml.safe_load(RULES.read_text())
    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names)) and all(names)
    for group in document["groups"]:
        assert set(group) <= GROUP_KEYS, group.keys()
        assert group["rules"], f"group {group['name']} has no rules"
        alerts = [rule["alert"] for rule in group["rules"]]
        assert len(alerts) == len(set(alerts)), alerts
        for rule in group["rules"]:
            assert set(rule) <= ALERT_KEYS, (rule.get("alert"), rule.keys())
            assert NAME.match(rule["alert"]), rule["alert"]
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    assert DURATION.match(rule[key]) and rule[key] != "", rule[key]
            for label, value in rule.get("labels", {}).items():
                assert NAME.match(label) and not label.startswith("__"), label
                assert isinstance(value, str)
            assert rule["labels"]["severity"] in ("critical", "warning", "info")
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_the_rules_cover_what_an_operator_must_hear_about():
    exprs = " ".join(rule["expr"] for rule in rules())
    for metric in (
        "rotator_connection_token_expiry_timestamp_seconds",
        "rotator_policy_next_due_timestamp_seconds",
        "rotator_policy_rotation_in_flight",
        "rotator_outbox_pending",
        "rotator_loop_last_timestamp_seconds",
    ):
        assert metric in exprs, metric
    assert any("7 * 86400" in rule["expr"] for rule in rules())


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_expression_parses_as_promql_and_names_only_scraped_metrics(rule):
    expr = promql_parser.parse(rule["expr"])
    assert not isinstance(expr, NOT_A_VECTOR), "an alert needs an instant vector"
    scraped = scrape()
    used = selectors(expr)
    assert used, "an alert on no metric can never fire"
    for selector in used:
        assert selector.name in scraped, f"{selector.name} is not in the scrape"
        for matcher in selector.matchers.matchers:
            assert matcher.name in scraped[selector.name], (selector.name, matcher.name)


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_template_uses_labels_the_expression_has(rule):
    scraped = scrape()
    available = set().union(
        *(scraped[s.name] for s in selectors(promql_parser.parse(rule["expr"])))
    )
    for text in rule["annotations"].values():
        assert text.count("{{") == text.count("}}"), text
        for body in TEMPLATE.findall(text):
            form = TEMPLATE_FORMS.match(body)
            assert form, f"unknown template {{{{{body}}}}}"
            if form.group("label"):
                assert form.group("label") in available, (rule["alert"], form.group("label"))


def test_the_checks_catch_a_broken_expression_and_an_unknown_metric():
    with pytest.raises(ValueError):
        promql_parser.parse("rate(rotator_api_requests_total[5m]")
    expr = promql_parser.parse("rotator_no_such_metric > 0")
    assert [s.name for s in selectors(expr)] == ["rotator_no_such_metric"]
    assert "rotator_no_such_metric" not in scrape()
