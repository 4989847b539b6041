"""The daemon's metrics, rendered in Prometheus' text exposition format (version 0.0.4).

A dozen counters and gauges do not need a client library: :class:`Registry`
keeps labelled values under a lock (jobs update them from the main thread,
the health server reads them from its own) and renders them as ``# HELP`` /
``# TYPE`` / sample lines. DigitalOcean API counters are read at render time
from the :class:`~rotator.digitalocean.stats.ClientStats` every daemon client
shares.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from rotator import __version__
from rotator.digitalocean.stats import ClientStats
from rotator.engine.jobs.base import Summary

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass
class Metric:
    """One metric family: a name, a type, a help text and its labelled values."""

    name: str
    kind: str  # counter | gauge
    help: str
    values: dict[Labels, float] = field(default_factory=dict)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for labels, value in sorted(self.values.items()):
            shown = ",".join(f'{key}="{_escape(text)}"' for key, text in labels)
            lines.append(
                f"{self.name}{{{shown}}} {_number(value)}"
                if shown
                else f"{self.name} {_number(value)}"
            )
        return lines


class Registry:
    """Metric families, updated and rendered under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[str, Metric] = {}
        self._collectors: list[Callable[[], list[Metric]]] = []

    def declare(self, name: str, kind: str, help_text: str) -> None:
        with self._lock:
            self._metrics.setdefault(name, Metric(name, kind, help_text))

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            values = self._metrics[name].values
            values[key] = values.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._metrics[name].values[tuple(sorted(labels.items()))] = value

    def get(self, name: str, **labels: str) -> float | None:
        with self._lock:
            return self._metrics[name].values.get(tuple(sorted(labels.items())))

    def collect(self, collector: Callable[[], list[Metric]]) -> None:
        """Add metrics computed at render time."""
        self._collectors.append(collector)

    def render(self) -> str:
        with self._lock:
            families = [
                Metric(m.name, m.kind, m.help, dict(m.values)) for m in self._metrics.values()
            ]
        for collector in self._collectors:
            families += collector()
        return "".join(line + "\n" for family in families for line in family.render())


# job name → (metric, label) its item outcomes are counted under
_OUTCOME_METRICS = {
    "validate": ("rotator_validations_total", "status"),
    "audit": ("rotator_audits_total", "verdict"),
    "rotate": ("rotator_rotations_total", "outcome"),
    "revoke": ("rotator_revocations_total", "outcome"),
    "outbox": ("rotator_alerts_total", "outcome"),
}


class DaemonMetrics(Registry):
    """Everything ``/metrics`` shows about the daemon."""

    def __init__(self, stats: ClientStats, *, started_at: float) -> None:
        super().__init__()
        self.stats = stats
        self.declare("rotator_build_info", "gauge", "Always 1; the version in a label.")
        self.set("rotator_build_info", 1, version=__version__)
        self.declare("rotator_start_time_seconds", "gauge", "When the daemon started (Unix time).")
        self.set("rotator_start_time_seconds", started_at)
        self.declare(
            "rotator_validations_total",
            "counter",
            "Token validations by the status found (error: not validated).",
        )
        self.declare("rotator_audits_total", "counter", "Scope audits by verdict.")
        self.declare("rotator_rotations_total", "counter", "Spaces key rotations by outcome.")
        self.declare(
            "rotator_revocations_total",
            "counter",
            "Deletions of previous keys past their grace period, by outcome.",
        )
        self.declare(
            "rotator_alerts_total",
            "counter",
            "Alert deliveries by outcome (sent, failed, gave_up).",
        )
        for outcome in ("succeeded", "resumed", "failed"):
            self.inc("rotator_rotations_total", 0, outcome=outcome)
        for status in ("valid", "invalid", "unknown", "error"):
            self.inc("rotator_validations_total", 0, status=status)
        for outcome in ("sent", "failed", "gave_up"):
            self.inc("rotator_alerts_total", 0, outcome=outcome)
        self.declare("rotator_job_runs_total", "counter", "Job runs by job and result.")
        self.declare(
            "rotator_job_failed_items_total",
            "counter",
            "Items a job could not do (retried later), by job.",
        )
        self.declare(
            "rotator_job_last_run_timestamp_seconds", "gauge", "When each job last ran (Unix time)."
        )
        self.declare(
            "rotator_job_last_success_timestamp_seconds",
            "gauge",
            "When each job last ran without a failed item (Unix time).",
        )
        self.declare("rotator_job_duration_seconds", "gauge", "How long each job's last run took.")
        self.declare(
            "rotator_loop_last_timestamp_seconds",
            "gauge",
            "When the main loop last made progress (Unix time).",
        )
        self.declare("rotator_config_reloads_total", "counter", "Config reloads by result.")
        self.collect(self._api)

    def job_ran(self, summary: Summary, at: float) -> None:
        """Count one job run and its items' outcomes."""
        job = summary.job
        metric = _OUTCOME_METRICS.get(job)
        if metric is not None:
            name, label = metric
            for outcome, count in summary.outcomes.items():
                if outcome != "not_due":  # looked at, nothing done: not a rotation or revoke
                    self.inc(name, count, **{label: outcome})
        self.inc("rotator_job_runs_total", job=job, result="ok" if summary.ok else "failed")
        self.inc("rotator_job_failed_items_total", summary.failed, job=job)
        self.set("rotator_job_last_run_timestamp_seconds", at, job=job)
        self.set("rotator_job_duration_seconds", summary.seconds, job=job)
        if summary.ok:
            self.set("rotator_job_last_success_timestamp_seconds", at, job=job)

    def _api(self) -> list[Metric]:
        snapshot = self.stats.snapshot()
        return [
            Metric(
                "rotator_api_calls_total",
                "counter",
                "HTTP requests sent to DigitalOcean, retries included.",
                {(): float(snapshot.calls)},
            ),
            Metric(
                "rotator_api_rate_limited_total",
                "counter",
                "429 answers received from DigitalOcean.",
                {(): float(snapshot.rate_limited)},
            ),
            Metric(
                "rotator_api_retries_total",
                "counter",
                "DigitalOcean requests repeated after a transient failure.",
                {(): float(snapshot.retries)},
            ),
            Metric(
                "rotator_api_transport_errors_total",
                "counter",
                "DigitalOcean requests that got no HTTP answer.",
                {(): float(snapshot.transport_errors)},
            ),
            Metric(
                "rotator_api_wait_seconds_total",
                "counter",
                "Time spent pacing and backing off before DigitalOcean requests.",
                {(): snapshot.waited_seconds},
            ),
        ]
