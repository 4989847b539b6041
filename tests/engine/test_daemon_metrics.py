"""Scrape a running `rotator run`: every metric an operator alerts on, with its type and labels."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

# family → (type, label names of its samples)
EXPECTED = {
    "rotator_policy_last_rotation_timestamp_seconds": ("gauge", {"policy"}),
    "rotator_policy_next_due_timestamp_seconds": ("gauge", {"policy"}),
    "rotator_policy_rotation_in_flight": ("gauge", {"policy"}),
    "rotator_policy_interval_seconds": ("gauge", {"policy"}),
    "rotator_policy_grace_seconds": ("gauge", {"policy"}),
    "rotator_connection_token_valid": ("gauge", {"connection"}),
    "rotator_connection_token_expiry_timestamp_seconds": ("gauge", {"connection"}),
    "rotator_connection_scope_verdict": ("gauge", {"connection", "verdict"}),
    "rotator_outbox_pending": ("gauge", set()),
    "rotator_api_requests": ("counter", {"connection", "status_class"}),
    "rotator_store_up": ("gauge", set()),
    "rotator_rotations": ("counter", {"outcome"}),
    "rotator_validations": ("counter", {"status"}),
    "rotator_job_runs": ("counter", {"job", "result"}),
    "rotator_job_last_success_timestamp_seconds": ("gauge", {"job"}),
    "rotator_loop_last_timestamp_seconds": ("gauge", set()),
    "rotator_api_calls": ("counter", set()),
    "rotator_build_info": ("gauge", {"version"}),
    "process_cpu_seconds": ("counter", set()),
    "process_resident_memory_bytes": ("gauge", set()),
    "process_start_time_seconds": ("gauge", set()),
    "python_info": ("gauge", {"implementation", "major", "minor", "patchlevel", "version"}),
}


def scrape(base: str) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    answer = httpx.get(f"{base}/metrics", timeout=10)
    assert answer.status_code == 200
    return {
        family.name: (family.type, [(s.name, s.labels, s.value) for s in family.samples])
        for family in text_string_to_metric_families(answer.text)
    }


def value(found, sample: str, **labels: str) -> float | None:
    """The value of the sample named *sample* with exactly *labels*, or None."""
    for _, samples in found.values():
        for name, sample_labels, sample_value in samples:
            if name == sample and sample_labels == labels:
                return sample_value
    return None


def test_a_running_daemon_exposes_every_metric_with_its_type_and_labels(home, start_daemon):
    ci_token = home.sandbox.add_token(["account:read"], expires_in_seconds=30 * 86400)
    assert home("connection", "add", "ci", "--token-stdin", stdin=ci_token).code == 0
    home.write_config(every="1h", grace="1s", health_listen="127.0.0.1:0")
    daemon = start_daemon(home)
    daemon.wait_for(r"policy media: rotated")
    daemon.wait_for(r"job audit: 2 due; 2 ok")
    found = scrape(daemon.health_url)

    for family, (kind, labels) in EXPECTED.items():
        assert family in found, f"{family} is not scraped"
        assert found[family][0] == kind, (family, found[family][0])
        samples = [s for s in found[family][1] if not s[0].endswith("_created")]
        assert samples, f"{family} has no samples"
        for _, sample_labels, _ in samples:
            assert set(sample_labels) == labels, (family, sample_labels)

    assert value(found, "rotator_policy_rotation_in_flight", policy="media") == 0
    rotated = value(found, "rotator_policy_last_rotation_timestamp_seconds", policy="media")
    assert rotated is not None
    due = value(found, "rotator_policy_next_due_timestamp_seconds", policy="media")
    assert due == rotated + 3600
    assert value(found, "rotator_connection_token_valid", connection="prod") == 1
    assert value(found, "rotator_connection_token_expiry_timestamp_seconds", connection="ci")
    assert value(found, "rotator_connection_token_expiry_timestamp_seconds", connection="prod") is (
        None
    )
    assert value(found, "rotator_connection_scope_verdict", connection="ci", verdict="ok") == 1
    assert value(found, "rotator_outbox_pending") == 0
    assert value(found, "rotator_api_requests_total", connection="prod", status_class="2xx") > 0
    assert value(found, "rotator_job_runs_total", job="rotate", result="ok") == 1

    # A rotation run from the CLI, beside the daemon, shows on the daemon's /metrics.
    deadline = time.monotonic() + 30
    while True:
        cli = home("rotate", "media")
        if cli.code == 0:
            break
        assert time.monotonic() < deadline, cli.stderr  # the daemon may hold the policy lock
        time.sleep(0.5)
    deadline = time.monotonic() + 20
    while (
        value(
            later := scrape(daemon.health_url),
            "rotator_policy_last_rotation_timestamp_seconds",
            policy="media",
        )
        == rotated
    ):
        assert time.monotonic() < deadline, "the CLI's rotation never showed"
        time.sleep(0.2)
    assert value(later, "rotator_rotations_total", outcome="succeeded") == 1  # the daemon's own
    code, _ = daemon.stop()
    assert code == 0, daemon.log
