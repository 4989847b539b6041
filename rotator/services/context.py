"""What a command or a daemon wake-up runs with: settings, keyring, store, HTTP clients, clock.

Everything is resolved lazily, so ``rotator --help`` works with a broken
config, and everything is injectable, so tests and the demo can run commands
in-process against a sandbox. A context owns the HTTP clients it makes and
:meth:`Context.close` ends them; the daemon builds a new context on every
good reload (:meth:`Context.fresh`) and closes the old one.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rotator.crypto import Keyring, MasterKey, load_master_key
from rotator.errors import UsageError
from rotator.events import Notify, ignore
from rotator.secret import Secret
from rotator.settings import PolicyConfig, Settings, load_settings
from rotator.store import Store, utc_now

if TYPE_CHECKING:
    # Only commands that talk HTTP pay for importing httpx and the client.
    import httpx

    from rotator.alerting import Alerting
    from rotator.digitalocean.budget import RateBudget
    from rotator.digitalocean.stats import ClientStats
    from rotator.services.clients import ClientFactory, ClientPool


def pending_key_path(key_file: Path) -> Path:
    """Where ``rotator rekey`` keeps the new master key until the swap is done."""
    return key_file.with_name(key_file.name + ".new")


@dataclass
class Context:
    """The world of one command, or of one daemon configuration."""

    environ: Mapping[str, str] | None = None
    config_path: Path | None = None
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    now: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep
    """How waits are made (the daemon's raises StopRequested when asked to stop)."""
    stats: ClientStats | None = None
    """Where DigitalOcean clients count their calls (the daemon's ``/metrics``)."""
    budget: RateBudget | None = None
    """The rate budget per token; the daemon keeps one across reloads. None: one per command."""
    cancelled: Callable[[], bool] | None = None
    """The daemon's stop flag: requests under way end once it answers true."""
    _settings: Settings | None = None
    _pool: ClientPool | None = None
    _alert_http: httpx.Client | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.environ, config_path=self.config_path)
        return self._settings

    def keyring(self) -> Keyring:
        """The master key, plus the new one while a ``rekey`` is unfinished."""
        settings = self.settings
        primary = load_master_key(
            value=settings.master_key,
            path=settings.master_key_file,
            credentials_directory=settings.credentials_directory,
        )
        pending = pending_key_path(settings.master_key_file)
        if settings.master_key is None and pending.exists():
            return Keyring(primary, load_master_key(value=None, path=pending))
        return Keyring(primary)

    def open_store(self, *, writer: bool, check: bool = False) -> Store:
        """The store; ``check`` also reads it all for damage (daemon start, not every command)."""
        return Store.open(
            self.settings.state_dir,
            self.keyring(),
            writer=writer,
            check=check,
            now=self.now,
            database_url=self.settings.database_url,
        )

    def clients(self) -> ClientFactory:
        """Make DigitalOcean clients that share one connection pool and one pacer."""
        return self.client_pool()

    def client_pool(self) -> ClientPool:
        """The pool :meth:`clients` makes clients with (its rate budget, its reservations)."""
        from rotator.digitalocean.budget import MINUTE, RateWait
        from rotator.digitalocean.stats import ClientStats
        from rotator.services.clients import ClientPool

        if self._pool is None:
            stats = self.stats if self.stats is not None else ClientStats()
            # A command waits on rate limits at most max_wait in all; the daemon
            # (which shares a budget across reloads) only paces each request within
            # the minute and never waits for a reset: its items are deferred instead.
            rate_wait = (
                RateWait(per_request=MINUTE)
                if self.budget is not None
                else RateWait(self.settings.config.digitalocean.max_wait.total_seconds())
            )
            self._pool = ClientPool(
                self.settings,
                stats=stats,
                sleep=self.sleep,
                budget=self.budget,
                rate_wait=rate_wait,
                cancelled=self.cancelled,
                clock=lambda: self.now().timestamp(),
            )
            if self.settings.database_url is not None and self._pool.budget.shared is None:
                self._share_budget(self._pool.budget)
        return self._pool

    def _share_budget(self, budget: RateBudget) -> None:
        """On PostgreSQL every replica (and command) also spends from one budget per token."""
        from rotator.services.shared_budget import StoreBudget
        from rotator.store.budgets import Limits

        do = self.settings.config.digitalocean
        settings, keyring = self.settings, self.keyring

        def open_store() -> Store:
            return Store.open(
                settings.state_dir,
                keyring(),
                writer=True,
                now=self.now,
                database_url=settings.database_url,
                pool_size=2,
            )

        limits = Limits(do.requests_per_minute, do.requests_per_hour)
        budget.shared = StoreBudget(open_store, limits)

    def policy(self, name: str) -> PolicyConfig:
        """A policy from the config file, by name."""
        for policy in self.settings.config.policies:
            if policy.name == name:
                return policy
        known = ", ".join(p.name for p in self.settings.config.policies) or "none"
        where = self.settings.config_path or "the config (no config file is set)"
        raise UsageError(f"no policy named {name!r} in {where} (known: {known})")

    def alerting(self, store: Store) -> Alerting | None:
        """Alert conditions through the configured channels (None without channels)."""
        from rotator.alerting import Alerting
        from rotator.alerts import Dispatcher, build_channels

        config = self.settings.config
        if not config.alerts:
            return None
        if self._alert_http is None:
            from rotator import httpguard

            self._alert_http = httpguard.guarded_client(timeout=10.0)
        dispatcher = Dispatcher(
            store,
            build_channels(config.alerts),
            self._alert_http,
            now=self.now,
            reminder=config.daemon.alert_reminder,
        )
        return Alerting(
            dispatcher,
            now=self.now,
            max_token_age=config.daemon.max_token_age,
            expiry_warning=config.daemon.expiry_warning,
        )

    @contextlib.contextmanager
    def notifier(self, store: Store) -> Iterator[Notify]:
        """Where a command's events go: its alerting (flushed at the end), or nowhere."""
        alerting = self.alerting(store)
        if alerting is None:
            yield ignore
            return
        yield alerting.handle
        alerting.flush()

    def fresh(
        self,
        settings: Settings | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
        stats: ClientStats | None = None,
        budget: RateBudget | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Context:
        """A new context like this one (streams, clock, sleep, stats), with its own clients.

        Without *settings* the config is read again (ConfigError for a bad
        one, and this context is left as it was). Close this context once the
        new one replaces it.
        """
        if settings is None:
            settings = load_settings(self.environ, config_path=self.config_path)
        return Context(
            environ=self.environ,
            config_path=self.config_path,
            stdin=self.stdin,
            stdout=self.stdout,
            stderr=self.stderr,
            now=self.now,
            sleep=self.sleep if sleep is None else sleep,
            stats=self.stats if stats is None else stats,
            budget=self.budget if budget is None else budget,
            cancelled=self.cancelled if cancelled is None else cancelled,
            _settings=settings,
        )

    def close(self) -> None:
        """End the HTTP clients this context made (it makes new ones if used again)."""
        if self._pool is not None:
            self._pool.close()
        if self._alert_http is not None:
            self._alert_http.close()
        self._pool = self._alert_http = None

    def new_master_key(self) -> tuple[Secret, MasterKey]:
        text = MasterKey.generate_text()
        return text, MasterKey.from_text(text, "the new master key")
