"""DigitalOcean clients for one configuration: one pool, one pacer, shared stats.

Every DigitalOcean client is made here, through
:meth:`rotator.services.context.Context.clients`; the daemon's contexts pass
its :class:`ClientStats` (for ``/metrics``) and its stop-aware sleep, so a
stop request ends a retry wait at once.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.ratelimit import Pacer
from rotator.digitalocean.retry import RetryPolicy
from rotator.digitalocean.stats import ClientStats
from rotator.secret import Secret
from rotator.settings import Settings

ClientFactory = Callable[[Secret], DigitalOceanClient]
"""Makes a client for a token; the client is a context manager."""


class ClientPool:
    """Makes DigitalOcean clients for one configuration; :meth:`close` ends its connections."""

    def __init__(
        self, settings: Settings, *, stats: ClientStats, sleep: Callable[[float], None]
    ) -> None:
        self._settings = settings
        config = settings.config
        self._timeout = config.digitalocean.timeout.total_seconds()
        pool = config.daemon.concurrency * 2
        self._http = httpx.Client(
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )
        self._pacer = Pacer()
        self._retry = RetryPolicy(attempts=config.digitalocean.retries + 1)
        self._stats = stats
        self._sleep = sleep

    def __call__(self, token: Secret) -> DigitalOceanClient:
        return DigitalOceanClient(
            token,
            api_url=self._settings.api_url,
            oauth_url=self._settings.oauth_url,
            http=self._http,
            timeout=self._timeout,
            retry=self._retry,
            pacer=self._pacer,
            stats=self._stats,
            sleep=self._sleep,
        )

    def close(self) -> None:
        self._http.close()
