"""/metrics is valid Prometheus text: the official parser reads every family back."""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from rotator.digitalocean.stats import ClientStats
from rotator.engine.jobs.base import Summary
from rotator.engine.metrics import DaemonMetrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_job_outcomes_api_calls_and_last_success_are_exposed():
    stats = ClientStats()
    metrics = DaemonMetrics(stats, started_at=1000.0)
    stats.add(calls=7, rate_limited=2, retries=1)
    metrics.job_ran(Summary("rotate", due=2, outcomes=Counter(succeeded=1, failed=1), failed=1), 50)
    metrics.job_ran(Summary("validate", due=3, outcomes=Counter(valid=2, invalid=1)), 60)
    metrics.job_ran(Summary("outbox", due=1, outcomes=Counter(sent=3)), 70)
    found = samples(metrics.render())
    assert found[("rotator_rotations_total", (("outcome", "succeeded"),))] == 1
    assert found[("rotator_rotations_total", (("outcome", "failed"),))] == 1
    assert found[("rotator_validations_total", (("status", "invalid"),))] == 1
    assert found[("rotator_alerts_total", (("outcome", "sent"),))] == 3
    assert found[("rotator_api_calls_total", ())] == 7
    assert found[("rotator_api_rate_limited_total", ())] == 2
    assert found[("rotator_job_last_success_timestamp_seconds", (("job", "validate"),))] == 60
    assert ("rotator_job_last_success_timestamp_seconds", (("job", "rotate"),)) not in found
    assert found[("rotator_job_failed_items_total", (("job", "rotate"),))] == 1
    assert found[("rotator_start_time_seconds", ())] == 1000


def test_label_values_are_escaped():
    metrics = DaemonMetrics(ClientStats(), started_at=0)
    metrics.declare("rotator_test_total", "counter", "A test.")
    metrics.inc("rotator_test_total", job='we"ird\\name\nx')
    found = samples(metrics.render())
    assert found[("rotator_test_total", (("job", 'we"ird\\name\nx'),))] == 1
