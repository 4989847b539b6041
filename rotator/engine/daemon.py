"""``rotator run``: the daemon's loop around its jobs, and how the process behaves.

Start-up: take ``<state dir>/daemon.lock`` for the process's lifetime (a
second ``rotator run`` on the same store fails at once; CLI commands share
the store's own writer lock and keep working), check the store and the
config, start the health listener, schedule the jobs, send ``READY=1``, then
resume any rotation left in flight before anything else. The READY comes
before the resume because a resume may wait minutes for a deployment, longer
than systemd waits for a start.

The loop: each wake-up opens the store, runs the jobs that are due
(:mod:`rotator.engine.jobs`), asks every job when it is due next, closes the store
and idles until then (at most :data:`rotator.engine.scheduler.RECHECK`, and half the
watchdog interval when systemd has one). A worker that frees up wakes it: the
concurrent jobs start their next queued items on the free workers at once
(:meth:`~rotator.engine.jobs.concurrent.ConcurrentJob.refill`), taking turns.
Stop and reload requests come from :class:`rotator.engine.lifecycle.Lifecycle`;
a reload with a bad config is logged and the old config kept. ``--once`` runs
every due job once and returns 1 if any item failed.

Why one module of this size: start-up, the loop, reloads, health and the stop
are one lifecycle whose order matters (lock, check, READY, resume, loop, stop
within 10 s); the jobs, the pool, the leases and the metrics are already apart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from datetime import datetime

from rotator.alerts import build_channels
from rotator.digitalocean.budget import RateBudget
from rotator.digitalocean.stats import ClientStats
from rotator.durations import format_duration
from rotator.engine.health import STALE_AFTER, Endpoints, HealthServer, Heartbeat, listen_address
from rotator.engine.jobs.audit import AuditJob
from rotator.engine.jobs.base import Job, Pass, Runtime, Summary
from rotator.engine.jobs.concurrent import ConcurrentJob
from rotator.engine.jobs.outbox import OutboxJob
from rotator.engine.jobs.rotate import RevokeJob, RotateJob
from rotator.engine.jobs.validate import ValidateJob
from rotator.engine.leasing import Leasing
from rotator.engine.lifecycle import HEARTBEAT_EVERY, Lifecycle, StopRequested
from rotator.engine.metrics import DaemonMetrics
from rotator.engine.pool import WorkerPool
from rotator.engine.scheduler import RECHECK, DueFunction, Scheduler, Work
from rotator.engine.sdnotify import Notifier
from rotator.errors import RotatorError, StoreLocked, StoreNotInitialised
from rotator.services.context import Context
from rotator.settings import PolicyConfig
from rotator.store import Store, WriterLock, check_state_dir
from rotator.store.readings import StoreReadings, open_read_only, read_postgres, read_store

log = logging.getLogger(__name__)

STORE_RETRY = (5.0, 60.0)  # first and longest wait after the store could not be opened
EXIT_HARD_AFTER = 9.5  # seconds after a stop request: the documented 10 s, whatever a peer does


class Daemon:
    """One ``rotator run`` process."""

    def __init__(
        self,
        ctx: Context,
        *,
        once: bool = False,
        health_listen: str | None = None,
        health_public: bool = False,
        environ: Mapping[str, str] | None = None,
        stale_after: float = STALE_AFTER,
        exit_hard: bool = False,
    ) -> None:
        self.ctx = ctx
        # The process's own daemon (not one in a test's process): may end it at once.
        self.exit_hard = exit_hard
        self.clock = ctx.now
        self.once = once
        self.health_listen = health_listen
        self.health_public = health_public
        self.notifier = Notifier(os.environ if environ is None else environ)
        self.stats = ClientStats()
        self.metrics = DaemonMetrics(
            self.stats, started_at=time.time(), read_store=self._read_store, policies=self._policies
        )
        self.heartbeat = Heartbeat()
        self.stale_after = stale_after
        self._config_error: str | None = None
        watchdog = self.notifier.watchdog_every
        self.lifecycle = Lifecycle(
            heartbeat=self._progress,
            heartbeat_every=min(HEARTBEAT_EVERY, watchdog / 2) if watchdog else HEARTBEAT_EVERY,
            on_stop=self._stopping,
        )
        self.leasing = Leasing(
            lambda: self.runtime.context.open_store(writer=True),
            lambda: self.runtime.settings.config.daemon.lease_ttl,
        )
        self.rotate_job = RotateJob()
        # The order --once runs them in; the loop runs whichever is due first.
        self.jobs: list[Job] = [
            ValidateJob(),
            AuditJob(),
            self.rotate_job,
            RevokeJob(),
            OutboxJob(),
        ]
        self.scheduler = Scheduler(self.clock)
        self.pool: WorkerPool | None = None  # made at start, daemon.concurrency workers
        self._finish_lock = threading.Lock()
        self._settled = threading.Event()  # a worker freed up: refill, ask the jobs again
        self._turn = 0  # the concurrent job free workers are offered to first (an index)
        self.failures = 0
        self.summaries: list[Summary] = []  # every job run, in order (``run --once --json``)
        self._runtime: Runtime | None = None
        self._store: Store | None = None
        self._store_failures = 0
        self._store_retry_at = 0.0

    # -- the process ---------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped (or once); the exit code."""
        settings = self.ctx.settings
        if settings.database_url is None and not settings.store_path.exists():
            raise StoreNotInitialised(
                f"no store at {settings.store_path}; run `rotator init` first"
            )
        check_state_dir(settings.state_dir)
        lock = WriterLock(settings.state_dir / "daemon.lock")
        try:
            lock.acquire()
        except StoreLocked:
            holder = lock.holder or "another process"
            raise StoreLocked(
                f"rotator run is already running on {settings.state_dir} ({holder}); "
                "stop it first (CLI commands work alongside it)"
            ) from None
        try:
            with self.lifecycle:
                code = self._serve()
        finally:
            lock.release()
            self.notifier.close()
        if self.exit_hard and self.pool is not None and self.pool.at_work:
            _exit_now(code, f"{self.pool.at_work} item(s) still wait on a peer", stopped=True)
        return code

    def _stopping(self) -> None:
        """A stop was asked for: tell systemd, and make sure the process ends in time."""
        self.notifier.stopping()
        if self.exit_hard:
            watchdog = threading.Timer(
                EXIT_HARD_AFTER, _exit_now, (0, f"not stopped {EXIT_HARD_AFTER:g}s after asked")
            )
            watchdog.daemon = True
            watchdog.start()

    def _serve(self) -> int:
        do = self.ctx.settings.config.digitalocean
        # One rate budget per token for the whole process, kept across reloads.
        budget = RateBudget(
            do.requests_per_minute,
            do.requests_per_hour,
            in_flight_allowance=do.timeout.total_seconds(),
        )
        self._use(
            self.ctx.fresh(
                self.ctx.settings,
                sleep=self.lifecycle.sleep,
                stats=self.stats,
                budget=budget,
                cancelled=self.lifecycle.stop.is_set,
            )
        )
        health = None if self.once else self._start_health()
        self.pool = WorkerPool(
            self.ctx.settings.config.daemon.concurrency,
            cancelled=self.lifecycle.stop.is_set,
            freed=self._worker_freed,
        )
        for job in self.jobs:
            if isinstance(job, ConcurrentJob):
                job.pool = self.pool
                job.drain = self.once
        leasing_started = False
        try:
            with self._pass(check=True):  # a full damage check, once per start
                for job in self.jobs:
                    self.scheduler.add(job.name, self._due_function(job), self._work_function(job))
            self.leasing.start()  # heartbeat and lease renewal (store checked above)
            leasing_started = True
            self._announce(health)
            self._resume()
            if self.once:
                return self._run_once()
            self._loop()
            return 0
        except StopRequested as exc:
            log.info("stopping: %s; anything in flight resumes at the next start", exc)
            return 0
        finally:
            self.lifecycle.stop.set()  # the workers see it: their waits and requests end
            self.lifecycle.disarm()  # before the pool's own bounded wait, never inside it
            self.pool.shutdown()
            if leasing_started:
                self.leasing.stop()
            if health is not None:
                health.stop()
            self.runtime.context.close()
            log.info("rotator run stopped")

    def _loop(self) -> None:
        while not self.lifecycle.stopping:
            reloaded = self.lifecycle.reload.is_set()
            if reloaded:
                self._reload()
            settled = self._settled.is_set()
            self._settled.clear()
            if settled:
                self._refill()
            idle = self.scheduler.idle_seconds
            # Only when something is due (a job's next run is at most RECHECK away): a
            # wake-up just to ping the watchdog need not open the store.
            if reloaded or idle is None or idle <= 0:
                self._tick()
            self._progress()
            self.notifier.status(self._status())
            idle = self._idle()
            self.heartbeat.idle(idle)
            self.lifecycle.wait(idle)

    def _tick(self) -> None:
        """One wake-up: run the due jobs, then ask each when it is due next."""
        if time.monotonic() < self._store_retry_at:
            return
        try:
            with self._pass() as store:
                # Ask first too: a reload or the CLI may have changed what is due.
                self.scheduler.reschedule()
                self.scheduler.run_pending()
                self.scheduler.reschedule()
                self._prune(store)
        except StopRequested:
            raise
        except Exception as exc:  # the store cannot be used now (rekey, key, disk): wait, retry
            self._store_failures += 1
            first, longest = STORE_RETRY
            delay = min(longest, first * 2 ** min(self._store_failures - 1, 10))
            self._store_retry_at = time.monotonic() + delay
            log.error(
                "cannot use the store: %s; trying again in %.0fs",
                exc,
                delay,
                exc_info=not isinstance(exc, RotatorError),  # a bug shows its traceback
            )
        else:
            self._store_failures = 0

    def _refill(self) -> None:
        """Workers freed up: give them queued items now, then ask every job when it is due.

        The concurrent jobs take turns: the free workers are offered first to
        the job after the last one that started an item, so one job's backlog
        does not keep the others' items waiting.
        """
        if time.monotonic() < self._store_retry_at:
            return
        try:
            with self._pass():
                view = self._view(self.clock())
                jobs = [job for job in self.jobs if isinstance(job, ConcurrentJob)]
                for step in range(len(jobs)):
                    turn = (self._turn + step) % len(jobs)
                    if jobs[turn].refill(view, finished=self._finished):
                        self._turn = turn + 1
                self.scheduler.reschedule()
        except StopRequested:
            raise
        except Exception as exc:  # noqa: BLE001 (_tick reports and backs off on its own)
            log.debug("cannot refill the workers now: %s", exc)

    def _idle(self) -> float:
        idle = self.scheduler.idle_seconds
        wait = RECHECK.total_seconds() if idle is None else idle
        if self._store_failures:
            wait = self._store_retry_at - time.monotonic()
        cap = RECHECK.total_seconds()
        if self.notifier.watchdog_every:
            cap = min(cap, self.notifier.watchdog_every / 2)
        return max(0.0, min(wait, cap))

    def _run_once(self) -> int:
        with self._pass() as store:
            self.scheduler.run_due_once()
            self._prune(store)
        log.info("rotator run --once: done, %d failed item(s)", self.failures)
        return 1 if self.failures else 0

    # -- jobs ----------------------------------------------------------------------

    @contextmanager
    def _pass(self, *, check: bool = False) -> Iterator[Store]:
        """The store, open for the jobs of one wake-up."""
        with self.runtime.context.open_store(writer=True, check=check) as store:
            self._store = store
            try:
                yield store
            finally:
                self._store = None

    def _prune(self, store: Store) -> None:
        """Audit-log retention: one indexed read when there is nothing to prune."""
        keep = self.runtime.context.settings.config.store.keep_history
        removed = store.history.prune(self.clock() - keep)
        if removed:
            log.info("pruned %d audit-log entries older than %s", removed, format_duration(keep))

    def _view(self, now: datetime) -> Pass:
        assert self._store is not None, "jobs run only inside a pass"
        return Pass(self._store, self.runtime, now, self.leasing)

    def _due_function(self, job: Job) -> DueFunction:
        return lambda now: job.next_due(self._view(now))

    def _work_function(self, job: Job) -> Work:
        return lambda now: self._work(job, now)

    def _work(self, job: Job, now: datetime, only: Collection[str] | None = None) -> None:
        self.notifier.status(f"running job {job.name}")
        job.run(self._view(now), only=only, finished=self._finished)
        self._progress()

    def _worker_freed(self) -> None:
        """A worker is free again: let the loop give it more work."""
        self._settled.set()
        self.lifecycle.nudge()

    def _finished(self, summary: Summary) -> None:
        """A job run's items are all done (on a worker, for concurrent jobs)."""
        with self._finish_lock:
            self.metrics.job_ran(summary, time.time())
            self.summaries.append(summary)
            self.failures += summary.failed + (summary.error is not None)
        self._settled.set()
        self.lifecycle.nudge()  # what was waiting on these items may be due now

    def _resume(self) -> None:
        """Finish rotations a stop or crash left in flight, before any other work."""
        try:
            with self._pass():
                in_flight = self.rotate_job.in_flight(self._view(self.clock()))
                if in_flight:
                    log.info(
                        "resuming %d rotation(s) left in flight: %s",
                        len(in_flight),
                        ", ".join(in_flight),
                    )
                    self._work(self.rotate_job, self.clock(), only=in_flight)
        except StopRequested:
            raise
        except Exception as exc:  # the rotate job retries; the daemon must come up regardless
            self.failures += 1
            log.error(
                "cannot resume rotations now: %s; the rotate job retries",
                exc,
                exc_info=not isinstance(exc, RotatorError),
            )

    # -- configuration ---------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        assert self._runtime is not None
        return self._runtime

    def _use(self, context: Context) -> None:
        """Make *context* current (alert secrets are read now: fail early); close the old one."""
        build_channels(context.settings.config.alerts)
        old, self._runtime = self._runtime, Runtime(context)
        if old is not None:
            old.context.close()

    def _reload(self) -> None:
        self.lifecycle.reload.clear()
        self.notifier.reloading()
        previous = self.runtime.settings
        try:
            context = self.runtime.context.fresh()
            settings = context.settings
            self._use(context)
        except RotatorError as exc:
            self._config_error = str(exc)
            self.metrics.inc("rotator_config_reloads_total", result="failed")
            log.error("config reload failed, keeping the previous config: %s", exc)
        else:
            self._config_error = None
            self.metrics.inc("rotator_config_reloads_total", result="ok")
            if settings.config.daemon.health_listen != previous.config.daemon.health_listen:
                log.warning("daemon.health_listen changed; it takes effect at the next start")
            log.info("config reloaded: %s", _describe(self.runtime))
        self.notifier.ready(self._status())

    # -- health, status, notify ------------------------------------------------------

    def _start_health(self) -> HealthServer | None:
        text = self.health_listen or self.runtime.settings.config.daemon.health_listen
        if text is None:
            return None
        host, port = listen_address(text, public=self.health_public)
        server = HealthServer(
            host,
            port,
            Endpoints(healthz=self._alive, readyz=self._ready, metrics=self.metrics.render),
            heartbeat=self.heartbeat,
            stale_after=self.stale_after,
        )
        server.start()
        return server

    def _alive(self) -> tuple[bool, str]:
        if self.lifecycle.stopping:  # not green while a stop may be held up by a peer
            return False, "stopping"
        return True, "ok"

    def _ready(self) -> tuple[bool, str]:
        if self.lifecycle.stopping:
            return False, "not ready: stopping"
        try:
            with self.runtime.context.open_store(writer=False):
                pass
        except RotatorError as exc:
            return False, f"not ready: the store cannot be opened: {exc}"
        if self._config_error is not None:
            return False, (
                f"not ready: the config does not load ({self._config_error}); "
                "running on the previous one"
            )
        late = self.heartbeat.overdue()
        if late > self.stale_after:
            return False, f"not ready: the main loop is {late:.0f}s late"
        return True, "ready"

    def _read_store(self) -> StoreReadings:
        """What /metrics reads from the store, on its own read-only connection."""
        settings = self.runtime.settings
        if settings.database_url is not None:
            return read_postgres(settings.database_url)
        with closing(open_read_only(settings.store_path)) as db:
            return read_store(db)

    def _policies(self) -> Sequence[PolicyConfig]:
        return self.runtime.settings.config.policies if self._runtime is not None else ()

    def _progress(self) -> None:
        """The loop is alive: note it for /readyz and /metrics, and ping the watchdog."""
        self.heartbeat.beat()
        self.metrics.set("rotator_loop_last_timestamp_seconds", time.time())
        self.notifier.watchdog()

    def _announce(self, health: HealthServer | None) -> None:
        settings = self.runtime.settings
        log.info(
            "rotator run%s: store %s, config %s; %s%s",
            " --once" if self.once else "",
            settings.store_path,
            settings.config_path or "none",
            _describe(self.runtime),
            f"; health and metrics on {health.url}" if health else "",
        )
        if not self.once:
            self.notifier.ready(self._status())

    def _status(self) -> str:
        upcoming = [job for job in self.scheduler.jobs if job.next_run is not None]
        if not upcoming:
            return "idle"
        job = min(upcoming)
        assert job.next_run is not None
        seconds = max(0, int((job.next_run - self.clock()).total_seconds()))
        return f"idle; next: {getattr(job, 'name', '?')} in {seconds}s"


def _exit_now(code: int, why: str, *, stopped: bool = False) -> None:
    """End the process now, worker threads and all (a peer may hold one for minutes).

    Safe: every rotation step is persisted before the call it makes and the store
    is crash-safe, so this is never worse than a kill; what was in flight resumes
    at the next start.
    """
    log.warning("%s: exiting now; anything in flight resumes at the next start", why)
    if not stopped:  # the watchdog: the main thread never got to say it
        log.info("rotator run stopped")
    logging.shutdown()  # flush every handler
    os._exit(code)


def _describe(runtime: Runtime) -> str:
    daemon = runtime.settings.config.daemon
    policies = len(runtime.settings.config.policies)
    return (
        f"validate every {format_duration(daemon.validate_every)}, audit every "
        f"{format_duration(daemon.audit_every)}, {policies} "
        f"polic{'y' if policies == 1 else 'ies'}, {len(runtime.settings.config.alerts)} "
        "alert channel(s)"
    )
