"""DigitalOcean clients for one configuration: one pool, one rate budget, shared stats.

Every DigitalOcean client is made here, through
:meth:`rotator.services.context.Context.clients`; the daemon's contexts pass
its :class:`ClientStats` (for ``/metrics``), its :class:`RateBudget` (one per
process, kept across reloads), its stop-aware sleep and its stop flag, so a
stop request ends a retry wait or a request under way at once. A CLI command
gets one :class:`RateWait` of ``[digitalocean] max_wait`` for all its
requests together: past it, the command stops and names the reset time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import httpx

from rotator import httpguard
from rotator.digitalocean.budget import RateBudget, RateWait, Reservation
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.digitalocean.stats import ClientStats
from rotator.secret import Secret
from rotator.settings import Settings

ClientFactory = Callable[[Secret], DigitalOceanClient]
"""Makes a client for a token; the client is a context manager."""


class ClientPool:
    """Makes DigitalOcean clients for one configuration; :meth:`close` ends its connections."""

    def __init__(
        self,
        settings: Settings,
        *,
        stats: ClientStats,
        sleep: Callable[[float], None],
        budget: RateBudget | None = None,
        rate_wait: RateWait | None = None,
        cancelled: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        config = settings.config
        do = config.digitalocean
        self._timeout = do.timeout.total_seconds()
        pool = config.daemon.concurrency * 2
        # Guarded: a peer that drips its headers is cut off at the deadline too.
        self._http = httpguard.guarded_client(
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )
        self.budget = budget or RateBudget(
            do.requests_per_minute, do.requests_per_hour, in_flight_allowance=self._timeout
        )
        self._rate_wait = rate_wait
        self._cancelled = cancelled
        self._retry = RetryPolicy(attempts=do.retries + 1)
        self._stats = stats
        self._sleep = sleep
        self._clock = clock
        self._local = threading.local()

    @contextlib.contextmanager
    def reserving(self, reservation: Reservation) -> Iterator[None]:
        """Clients this thread makes meanwhile draw on *reservation* (admitted daemon work)."""
        previous = getattr(self._local, "reservation", None)
        self._local.reservation = reservation
        try:
            yield
        finally:
            self._local.reservation = previous

    def __call__(self, token: Secret) -> DigitalOceanClient:
        client = DigitalOceanClient(
            token,
            api_url=self._settings.api_url,
            oauth_url=self._settings.oauth_url,
            registry_url=self._settings.registry_url,
            http=self._http,
            timeout=self._timeout,
            retry=self._retry,
            budget=self.budget,
            rate_wait=self._rate_wait,
            stats=self._stats,
            sleep=self._sleep,
            clock=self._clock,
            cancelled=self._cancelled,
        )
        reservation = getattr(self._local, "reservation", None)
        if reservation is not None and reservation.key == client.fingerprint:
            client.reservation = reservation
        return client

    def close(self) -> None:
        self._http.close()
        self.budget.close()  # the shared budget's connection, if any (made again if used)
