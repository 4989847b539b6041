"""The daemon's metrics: a ``prometheus_client`` registry of its own, served on ``/metrics``.

Three sources feed one :class:`~prometheus_client.CollectorRegistry` (never
the library's global default, so tests and an embedding program see only
their own daemon):

- the standard ``process_*`` and ``python_info`` collectors;
- counters and gauges the daemon updates as it works (job runs and their
  items' outcomes, config reloads, the loop's heartbeat);
- :class:`ScrapeCollector`, which computes values when scraped: what the
  store knows (:mod:`rotator.store.readings`: per-policy rotation times,
  rotations in flight, per-connection token validity, expiry and scope
  verdict, the alert outbox) and the DigitalOcean request counters the
  shared :class:`~rotator.digitalocean.stats.ClientStats` keeps. Reading the
  store at scrape time is what makes a rotation run by ``rotator rotate``,
  or by another process on the same store, show here.

Job timestamps: ``rotator_job_last_run_timestamp_seconds`` moves on every
run, ``rotator_job_last_success_timestamp_seconds`` only when a run did work
(at least one item was due and acted on) and nothing failed, so "the
rotate job has not succeeded for a week" means no rotation succeeded, not
that nothing was due. A run with nothing to do counts as
``rotator_job_runs_total{result="idle"}``.

Why one module of this size: every metric's name, help and labels are the
operator's interface (INTERFACE.md), listed in one place so a renamed or
missing series shows in one diff; the store readings are apart.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rotator import __version__
from rotator.digitalocean.stats import ClientStats
from rotator.engine.jobs.base import Summary
from rotator.errors import RotatorError
from rotator.settings import PolicyConfig
from rotator.store.readings import StoreReadings

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

VERDICTS = ("ok", "missing", "too_broad", "invalid", "unknown")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "429", "5xx", "transport")
UNREGISTERED = "unregistered"
"""The connection label of requests made with a token the store does not know."""

# job name → (metric, label) its item outcomes are counted under
_OUTCOME_METRICS = {
    "validate": ("rotator_validations_total", "status"),
    "audit": ("rotator_audits_total", "verdict"),
    "rotate": ("rotator_rotations_total", "outcome"),
    "revoke": ("rotator_revocations_total", "outcome"),
    "outbox": ("rotator_alerts_total", "outcome"),
}
# Items looked at and left for later: not a rotation or revocation (yet). "deferred":
# its token's budget had no room; "waiting_for_deployment": a look at a deployment.
_NOTHING_DONE = frozenset({"not_due", "deferred", "waiting_for_deployment"})


class DaemonMetrics:
    """Everything ``/metrics`` shows about the daemon."""

    def __init__(
        self,
        stats: ClientStats,
        *,
        started_at: float,
        read_store: Callable[[], StoreReadings] | None = None,
        policies: Callable[[], Sequence[PolicyConfig]] = lambda: (),
    ) -> None:
        self.stats = stats
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._metrics: dict[str, Counter | Gauge] = {}

        self._gauge("rotator_build_info", "Always 1; the version in a label.", ["version"])
        self.set("rotator_build_info", 1, version=__version__)
        self._gauge("rotator_start_time_seconds", "When the daemon started (Unix time).")
        self.set("rotator_start_time_seconds", started_at)
        self._counter(
            "rotator_validations_total",
            "Token validations by the status found (error: not validated).",
            ["status"],
            ("valid", "invalid", "unknown", "error"),
        )
        self._counter("rotator_audits_total", "Scope audits by verdict.", ["verdict"])
        self._counter(
            "rotator_rotations_total",
            "Spaces key rotations by this daemon, by outcome.",
            ["outcome"],
            ("succeeded", "resumed", "failed"),
        )
        self._counter(
            "rotator_revocations_total",
            "Deletions of previous keys past their grace period, by outcome.",
            ["outcome"],
        )
        self._counter(
            "rotator_alerts_total",
            "Alert deliveries by outcome (sent, failed, gave_up).",
            ["outcome"],
            ("sent", "failed", "gave_up"),
        )
        self._counter(
            "rotator_job_runs_total",
            "Job runs by job and result (ok: did work, idle: nothing to do, failed).",
            ["job", "result"],
        )
        self._counter(
            "rotator_job_failed_items_total",
            "Items a job could not do (retried later), by job.",
            ["job"],
        )
        self._gauge(
            "rotator_job_last_run_timestamp_seconds",
            "When each job last ran, whether or not anything was due (Unix time).",
            ["job"],
        )
        self._gauge(
            "rotator_job_last_success_timestamp_seconds",
            "When each job last did work without a failed item (Unix time); "
            "a run with nothing due leaves it alone.",
            ["job"],
        )
        self._gauge("rotator_job_duration_seconds", "How long each job's last run took.", ["job"])
        self._gauge(
            "rotator_loop_last_timestamp_seconds",
            "When the main loop last made progress (Unix time).",
        )
        self._counter(
            "rotator_config_reloads_total",
            "Config reloads by result.",
            ["result"],
            ("ok", "failed"),
        )
        self.registry.register(ScrapeCollector(stats, read_store, policies))

    # -- declaring and updating --------------------------------------------------------

    def _counter(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        initial: Iterable[str] = (),
    ) -> None:
        counter = Counter(name, help_text, labels, registry=self.registry)
        for value in initial:  # shown as 0 from the start, so rate() sees the first one
            counter.labels(value)
        self._metrics[name] = counter

    def _gauge(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self._metrics[name] = Gauge(name, help_text, labels, registry=self.registry)

    def _child(self, name: str, labels: dict[str, str]) -> Any:
        metric = self._metrics[name]
        return metric.labels(**labels) if labels else metric

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add to a counter (by its ``_total`` name)."""
        self._child(name, labels).inc(amount)

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        self._child(name, labels).set(value)

    def render(self) -> str:
        """The registry in Prometheus' text exposition format (0.0.4)."""
        return generate_latest(self.registry).decode()

    # -- what the daemon reports ---------------------------------------------------------

    def job_ran(self, summary: Summary, at: float) -> None:
        """Count one job run and its items' outcomes."""
        job = summary.job
        metric = _OUTCOME_METRICS.get(job)
        if metric is not None:
            name, label = metric
            for outcome, count in summary.outcomes.items():
                if outcome not in _NOTHING_DONE:
                    self.inc(name, count, **{label: outcome})
        did_work = any(outcome not in _NOTHING_DONE for outcome in summary.outcomes)
        result = "failed" if not summary.ok else ("ok" if did_work else "idle")
        self.inc("rotator_job_runs_total", job=job, result=result)
        self.inc("rotator_job_failed_items_total", summary.failed, job=job)
        self.set("rotator_job_last_run_timestamp_seconds", at, job=job)
        self.set("rotator_job_duration_seconds", summary.seconds, job=job)
        if result == "ok":
            self.set("rotator_job_last_success_timestamp_seconds", at, job=job)

    def loop_turned(self, at: float) -> None:
        self.set("rotator_loop_last_timestamp_seconds", at)

    def config_reloaded(self, *, ok: bool) -> None:
        self.inc("rotator_config_reloads_total", result="ok" if ok else "failed")


class ScrapeCollector(Collector):
    """Values computed at scrape time: the store's state and the DigitalOcean counters.

    ``rotator_api_requests_total`` is counted per token fingerprint by the
    clients (they never learn a connection's name); the store maps each
    fingerprint to its connection. A fingerprint keeps the name it was first
    given, so the counter stays monotonic after a token changes; one the store
    never knew is labelled ``unregistered``.
    """

    def __init__(
        self,
        stats: ClientStats,
        read_store: Callable[[], StoreReadings] | None,
        policies: Callable[[], Sequence[PolicyConfig]],
    ) -> None:
        self._stats = stats
        self._read_store = read_store
        self._policies = policies
        self._names: dict[str, str] = {}  # fingerprint → connection, fixed once known
        self._lock = threading.Lock()  # scrapes may overlap

    def describe(self) -> Iterable[Metric]:
        return []  # no up-front description: collect() reads the store

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            readings = self._readings()
            yield from self._api(readings)
            if self._read_store is None:
                return
            up = GaugeMetricFamily(
                "rotator_store_up",
                "1 if the store could be read for this scrape, else 0 (store metrics absent).",
            )
            up.add_metric([], 1 if readings is not None else 0)
            yield up
            if readings is not None:
                yield from self._policy_metrics(readings)
                yield from self._connection_metrics(readings)
                yield from self._outbox_metrics(readings)
                yield from self._lease_metrics(readings)

    def _readings(self) -> StoreReadings | None:
        if self._read_store is None:
            return None
        try:
            return self._read_store()
        except (sqlite3.Error, OSError, RotatorError) as exc:  # the scrape says so instead
            log.warning("metrics: cannot read the store: %s", exc)
            return None

    def _api(self, readings: StoreReadings | None) -> Iterable[Metric]:
        snapshot = self._stats.snapshot()
        for name, help_text, value in (
            (
                "rotator_api_calls",
                "HTTP requests sent to DigitalOcean, retries included.",
                snapshot.calls,
            ),
            (
                "rotator_api_rate_limited",
                "429 answers received from DigitalOcean.",
                snapshot.rate_limited,
            ),
            (
                "rotator_api_retries",
                "DigitalOcean requests repeated after a transient failure.",
                snapshot.retries,
            ),
            (
                "rotator_api_transport_errors",
                "DigitalOcean requests that got no HTTP answer.",
                snapshot.transport_errors,
            ),
            (
                "rotator_api_wait_seconds",
                "Time spent pacing and backing off before DigitalOcean requests.",
                snapshot.waited_seconds,
            ),
        ):
            yield CounterMetricFamily(name, help_text, value=value)
        if readings is not None:
            known: dict[str, str] = {}
            for connection in readings.connections:
                known.setdefault(connection.fingerprint, connection.name)
            for fingerprint, _ in snapshot.answers:
                if fingerprint not in self._names:
                    self._names[fingerprint] = known.get(fingerprint, UNREGISTERED)
        requests = CounterMetricFamily(
            "rotator_api_requests",
            "HTTP requests sent to DigitalOcean, by connection and answer "
            "(2xx, 3xx, 4xx, 429, 5xx, transport: no answer).",
            labels=["connection", "status_class"],
        )
        totals: dict[tuple[str, str], int] = {}
        for (fingerprint, status_class), count in snapshot.answers.items():
            owner = self._names.get(fingerprint)
            if owner is not None:  # not yet mapped (store unreadable so far): shown later
                key = (owner, status_class)
                totals[key] = totals.get(key, 0) + count
        for (owner, status_class), count in sorted(totals.items()):
            requests.add_metric([owner, status_class], count)
        yield requests

    def _policy_metrics(self, readings: StoreReadings) -> Iterable[Metric]:
        configured = {policy.name: policy for policy in self._policies()}
        last = GaugeMetricFamily(
            "rotator_policy_last_rotation_timestamp_seconds",
            "When rotator last rotated the policy's key (Unix time); absent until it has.",
            labels=["policy"],
        )
        due = GaugeMetricFamily(
            "rotator_policy_next_due_timestamp_seconds",
            "When the policy's key is next due for rotation (Unix time); absent until "
            "rotator tracks the key (its first rotation).",
            labels=["policy"],
        )
        in_flight = GaugeMetricFamily(
            "rotator_policy_rotation_in_flight",
            "1 while a rotation of the policy is in flight, else 0.",
            labels=["policy"],
        )
        started = GaugeMetricFamily(
            "rotator_policy_rotation_started_timestamp_seconds",
            "When the rotation in flight started (Unix time); absent when none is.",
            labels=["policy"],
        )
        interval = GaugeMetricFamily(
            "rotator_policy_interval_seconds",
            "How often the policy's key is rotated (the policy's every).",
            labels=["policy"],
        )
        grace = GaugeMetricFamily(
            "rotator_policy_grace_seconds",
            "How long the previous key lives after a rotation (the policy's grace).",
            labels=["policy"],
        )
        for name in sorted(set(configured) | set(readings.policies)):
            reading = readings.policies.get(name)
            policy = configured.get(name)
            # A policy gone from the config still shows a rotation left in flight.
            if policy is None and (reading is None or not reading.in_flight):
                continue
            in_flight.add_metric([name], 1 if reading is not None and reading.in_flight else 0)
            if reading is not None and reading.in_flight_since is not None:
                started.add_metric([name], reading.in_flight_since)
            if policy is None:
                continue
            interval.add_metric([name], policy.every.total_seconds())
            grace.add_metric([name], policy.grace.total_seconds())
            if reading is None or reading.current_since is None:
                continue
            if reading.rotated:
                last.add_metric([name], reading.current_since)
            # As the rotate job decides: never while the previous key is in its grace.
            next_due = reading.current_since + policy.every.total_seconds()
            if reading.previous_revoke_after is not None:
                next_due = max(next_due, reading.previous_revoke_after)
            due.add_metric([name], next_due)
        yield from (last, due, in_flight, started, interval, grace)

    def _connection_metrics(self, readings: StoreReadings) -> Iterable[Metric]:
        valid = GaugeMetricFamily(
            "rotator_connection_token_valid",
            "1 if the connection's token was valid at its last validation, 0 if invalid; "
            "absent when unknown.",
            labels=["connection"],
        )
        expiry = GaugeMetricFamily(
            "rotator_connection_token_expiry_timestamp_seconds",
            "When the connection's token expires (Unix time); absent when it does not "
            "or is not known to.",
            labels=["connection"],
        )
        verdict = GaugeMetricFamily(
            "rotator_connection_scope_verdict",
            "1 for the verdict of the latest scope audit of the connection's current token "
            "(unknown when not audited yet), 0 for the others.",
            labels=["connection", "verdict"],
        )
        for connection in readings.connections:
            if connection.status in ("valid", "invalid"):
                valid.add_metric([connection.name], 1 if connection.status == "valid" else 0)
            if connection.token_expires_at is not None:
                expiry.add_metric([connection.name], connection.token_expires_at)
            found = connection.verdict if connection.verdict in VERDICTS else "unknown"
            for name in VERDICTS:
                verdict.add_metric([connection.name, name], 1 if name == found else 0)
        yield from (valid, expiry, verdict)

    def _outbox_metrics(self, readings: StoreReadings) -> Iterable[Metric]:
        pending = GaugeMetricFamily(
            "rotator_outbox_pending",
            "Alerts waiting in the outbox (neither delivered nor given up).",
        )
        pending.add_metric([], readings.outbox_pending)
        yield pending
        oldest = GaugeMetricFamily(
            "rotator_outbox_oldest_pending_timestamp_seconds",
            "When the oldest alert still waiting in the outbox was queued (Unix time); "
            "absent when none waits.",
        )
        if readings.outbox_oldest_pending is not None:
            oldest.add_metric([], readings.outbox_oldest_pending)
        yield oldest

    def _lease_metrics(self, readings: StoreReadings) -> Iterable[Metric]:
        held = GaugeMetricFamily(
            "rotator_leases_held",
            "Leases alive now, per replica holding them (several replicas share the store).",
            labels=["replica"],
        )
        for replica, count in sorted(readings.leases_held.items()):
            held.add_metric([replica], count)
        yield held
        lost = CounterMetricFamily(
            "rotator_leases_lost",
            "Leases a replica lost (expired or taken over) while it worked, since it started.",
            labels=["replica"],
        )
        for replica, count in sorted(readings.leases_lost.items()):
            lost.add_metric([replica], count)
        yield lost
