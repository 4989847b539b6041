"""The one place rotator talks HTTP to DigitalOcean.

A :class:`DigitalOceanClient` holds one token. It is cheap to build and safe
to use from many threads; many clients (one per token) may share one
``httpx.Client`` and one :class:`~rotator.digitalocean.budget.RateBudget`.
That is why the token travels in each request's headers and never in a
shared client's defaults.

Before each request the client takes a ticket from the token's budget and
waits at most what its :class:`~rotator.digitalocean.budget.RateWait` allows;
a request that would have to wait longer is not sent: it raises
:class:`~rotator.errors.RateLimited` naming when the budget resets.

Every answer that is not 2xx becomes the typed :class:`rotator.errors.APIError`
for its status, and every httpx failure a :class:`rotator.errors.TransportError`.
Messages carry the method, the path (never the query string), DigitalOcean's
error id and request id: never the token.

Every wait is bounded (see :mod:`rotator.httpguard`): one attempt may take
``timeout`` seconds in all, connect to last byte, however slowly the peer
sends; the whole request, retries and backoff included, ends by the retry
policy's ``deadline`` (a wait for the rate budget's next slot is bounded by
``rate_wait`` instead, and does not eat into it); and an answer body larger than ``max_body``
(8 MiB) is refused while it streams, never held whole.

How an answer or a failure becomes rotator's error is :mod:`.failures`. The
class stays one piece past the usual module size on purpose: the order of
budget, pacing, retries, deadline and pagination within one request is the
client's contract, and it reads best in one place.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from rotator import __version__, httpguard
from rotator.digitalocean.budget import (
    RateBudget,
    RateWait,
    Refusal,
    Reservation,
    Ticket,
    clock_time,
    refused_error,
    set_not_before,
)
from rotator.digitalocean.failures import (
    api_error,
    describe_failure,
    json_object,
    transport_error,
)
from rotator.digitalocean.models import Account, TokenInfo
from rotator.digitalocean.retry import (
    IDEMPOTENT_METHODS,
    RetryPolicy,
    may_retry_exception,
    may_retry_status,
    required_wait,
)
from rotator.digitalocean.stats import ClientStats
from rotator.errors import (
    DigitalOceanError,
    InvalidTokenFormat,
    RateLimited,
    Unauthorized,
)
from rotator.logs import one_line
from rotator.secret import Secret

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.digitalocean.com"
DEFAULT_OAUTH_URL = "https://cloud.digitalocean.com"
DEFAULT_REGISTRY_URL = "https://registry.digitalocean.com"
TOKEN_INFO_PATH = "/v1/oauth/token/info"  # noqa: S105 (a path, not a password)
REVOKE_PATH = "/v1/oauth/revoke"
USER_AGENT = f"rotator/{__version__}"
MAX_PER_PAGE = 200
MAX_PAGES = 1000
"""Pages :meth:`DigitalOceanClient.paginate` follows before it calls the server buggy."""

DEFAULT_RETRY = RetryPolicy()
# Token info is a best-effort extra on an undocumented endpoint: one attempt,
# so a validation never waits a retry budget for it.
_TOKEN_INFO_RETRY = RetryPolicy(attempts=1)
# Visible ASCII only: anything else cannot go in a header, and httpx's error
# for a bad header value would quote the token.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class DigitalOceanClient:
    """DigitalOcean API calls made with one token."""

    def __init__(
        self,
        token: Secret,
        *,
        api_url: str = DEFAULT_API_URL,
        oauth_url: str = DEFAULT_OAUTH_URL,
        registry_url: str = DEFAULT_REGISTRY_URL,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        max_body: int = httpguard.DEFAULT_MAX_BODY,
        retry: RetryPolicy = DEFAULT_RETRY,
        budget: RateBudget | None = None,
        pacer: RateBudget | None = None,
        rate_wait: RateWait | None = None,
        stats: ClientStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        """Build a client; *http*, *budget* and *stats* may be shared with other clients.

        *timeout* is the total time one attempt may take (connect, send and
        the whole answer); *max_body* the largest answer body read. An *http*
        client passed in is left open by :meth:`close`; one made here is
        closed by it. Pass one made by :func:`rotator.httpguard.guarded_client`
        so a peer dripping its headers is cut off at the deadline too (a
        plain ``httpx.Client`` bounds the body only, and each header read by
        *timeout*). *cancelled* (the daemon's stop flag) ends a request under
        way within a quarter of a second once it answers true (body reads
        with any client, every socket wait with a guarded one). *pacer* is
        the old name of *budget*; *rate_wait* bounds the waits on rate limits
        (see :attr:`rate_wait`).
        """
        if not isinstance(token, Secret):
            raise TypeError("DigitalOceanClient takes the token as a rotator.secret.Secret")
        if not _HEADER_SAFE.fullmatch(token.reveal()):
            raise InvalidTokenFormat(
                "the token is empty or contains spaces or control characters, "
                "so it cannot be sent in an HTTP header"
            )
        self._token = token
        self._api_base = api_url.rstrip("/")
        self._api_origin = httpx.URL(self._api_base)
        self._oauth_base = oauth_url.rstrip("/")
        self.registry_url = registry_url.rstrip("/")
        """The container registry's base (Docker Registry HTTP API V2)."""
        self._owns_http = http is None
        if not timeout > 0:
            raise ValueError("DigitalOceanClient timeout must be positive")
        if max_body < 0:
            raise ValueError("DigitalOceanClient max_body must not be negative")
        self._http = http if http is not None else httpguard.guarded_client(timeout=timeout)
        self._timeout = timeout
        self._max_body = max_body
        self._retry = retry
        self.budget = budget or pacer or RateBudget()
        self.rate_wait = rate_wait
        """How long this client's requests may wait on rate limits, all together.

        Set it per command (the CLI: ``RateWait(max_wait)``) or per daemon
        item; None gives each request ``retry.max_total_wait`` of its own.
        """
        self.reservation: Reservation | None = None
        """Calls admitted for the work this client does; its requests draw on them."""
        self._stats = stats if stats is not None else ClientStats()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._monotonic = monotonic
        self._cancelled = cancelled

    def __repr__(self) -> str:
        return f"DigitalOceanClient(api_url={self._api_base!r}, token={self.fingerprint})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client if this client opened it."""
        if self._owns_http:
            self._http.close()

    @property
    def token(self) -> Secret:
        """The token this client sends (a Secret: it never prints itself)."""
        return self._token

    @property
    def fingerprint(self) -> str:
        """The token's fingerprint, safe to log."""
        return self._token.fingerprint

    def now(self) -> float:
        """The client's clock (Unix time): the one its rate budget is read with."""
        return self._clock()

    @property
    def stats(self) -> ClientStats:
        """Counters of requests sent, 429s seen, retries and time waited."""
        return self._stats

    # -- generic calls -----------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Call ``{method} {api_url}{path}`` and return the 2xx answer.

        Needs whatever scope the endpoint needs. Transient failures are
        retried by the client's :class:`RetryPolicy`; *idempotent* overrides
        the method's default (RFC 9110) for calls that must never run twice,
        such as a PUT that starts a deployment. Raises the
        :class:`~rotator.errors.APIError` subclass for the status, or
        :class:`~rotator.errors.TransportError`.
        """
        if not path.startswith("/"):
            raise ValueError("request() takes a path under the API URL, starting with '/'")
        return self._send(
            method,
            self._api_base + path,
            params=params,
            json=json,
            idempotent=idempotent,
            policy=self._retry,
            pace=True,
        )

    def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        """``GET {path}`` and return its JSON object; needs the endpoint's read scope."""
        response = self.request("GET", path, params=params)
        return json_object(response, "GET", path)

    def paginate(
        self,
        path: str,
        key: str,
        *,
        per_page: int = MAX_PER_PAGE,
        params: Mapping[str, str | int] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> Iterator[dict[str, Any]]:
        """Yield every item of ``GET {path}``'s *key* list, page after page.

        Needs the collection's read scope (``spaces_key:read`` for
        ``/v2/spaces/keys``, ``app:read`` for ``/v2/apps``). Follows
        ``links.pages.next`` until it is absent, only to the API's own scheme,
        host and the same path, and stops with :class:`DigitalOceanError` after
        *max_pages* pages or when a next link repeats.
        """
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        if not path.startswith("/"):
            raise ValueError("paginate() takes a path under the API URL, starting with '/'")
        url = self._api_base + path
        query: Mapping[str, str | int] | None = {**(params or {}), "per_page": per_page}
        seen: set[str] = set()
        for _ in range(max_pages):
            response = self._send(
                "GET", url, params=query, json=None, idempotent=True, policy=self._retry, pace=True
            )
            body = json_object(response, "GET", path)
            items = body.get(key, [])
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise DigitalOceanError(f"the answer to GET {path} has no list of objects {key!r}")
            yield from items
            link = _next_link(body)
            if link is None:
                return
            url, query = self._same_origin(link, path), None
            if url in seen:
                raise DigitalOceanError(f"the next-page link of GET {path} repeats a page")
            seen.add(url)
        raise DigitalOceanError(f"GET {path} still had more pages after {max_pages}; stopped")

    # -- endpoints -----------------------------------------------------------

    def account(self) -> Account:
        """The token's account: ``GET /v2/account``, needs ``account:read``."""
        return Account.from_json(self.get_json("/v2/account"))

    def token_info(self) -> TokenInfo | None:
        """The token's scopes and expiry, if DigitalOcean's OAuth server will say.

        ``GET {oauth_url}/v1/oauth/token/info``: undocumented, used by doctl's
        ``auth init``; any valid token may call it (no scope). Best effort and
        one attempt only: None on any error answer, transport failure or a
        body without a list of string scopes.
        """
        try:
            response = self._send(
                "GET",
                self._oauth_base + TOKEN_INFO_PATH,
                params=None,
                json=None,
                idempotent=True,
                policy=_TOKEN_INFO_RETRY,
                # Another host with its own limits: keep it out of the API's pacing.
                pace=False,
            )
            body = response.json()
        except (DigitalOceanError, ValueError) as exc:
            logger.debug("token info unavailable for token %s: %s", self.fingerprint, exc)
            return None
        return TokenInfo.from_json(body)

    def revoke_oauth_token(self, token: Secret) -> bool:
        """Revoke another OAuth *token* (a registry credential's): True when revoked.

        ``POST {oauth_url}/v1/oauth/revoke`` with the form ``token=<token>``,
        authenticated by that token itself: the call doctl's ``registry
        logout`` makes (RFC 7009's revocation endpoint; not in the API's
        OpenAPI spec). Revoking twice does no harm, so failures are retried
        like a GET. Another host: outside the API's pacing.

        Neither answer is taken on trust: the token is then tried on token
        info. False (already gone) only when the revoke answered 401 and the
        token no longer authenticates; DigitalOceanError when the token still
        works after either answer, or a refused revoke cannot be confirmed.
        """
        if not _HEADER_SAFE.fullmatch(token.reveal()):
            raise InvalidTokenFormat("the token to revoke cannot be sent in an HTTP header")
        try:
            self._send(
                "POST",
                self._oauth_base + REVOKE_PATH,
                params=None,
                json=None,
                idempotent=True,
                policy=self._retry,
                pace=False,
                form={"token": token.reveal()},
                bearer=token,
            )
        except Unauthorized as exc:
            if self._token_works(token) is False:
                return False  # revoked or expired already
            raise DigitalOceanError(
                f"the OAuth server refused to revoke token {token.fingerprint} ({exc}) and "
                "it was not confirmed gone"
            ) from exc
        if self._token_works(token):
            raise DigitalOceanError(
                f"the OAuth server accepted the revoke of token {token.fingerprint}, yet it "
                "still authenticates"
            )
        return True

    def _token_works(self, token: Secret) -> bool | None:
        """Whether *token* authenticates on token info: None when that cannot be told."""
        try:
            self._send(
                "GET",
                self._oauth_base + TOKEN_INFO_PATH,
                params=None,
                json=None,
                idempotent=True,
                policy=_TOKEN_INFO_RETRY,
                pace=False,
                bearer=token,
            )
        except Unauthorized:
            return False
        except DigitalOceanError as exc:
            logger.debug("token %s: token info unavailable: %s", token.fingerprint, exc)
            return None
        return True

    def api_origin(self) -> tuple[str, str, int | None]:
        """The API's scheme, host and port."""
        origin = self._api_origin
        return origin.scheme, origin.host, origin.port

    def fetch_once(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One ``GET url`` outside the API (the registry), whatever its status.

        Within the client's timeout, body cap and stop flag; no retries and
        no pacing (another host). *headers* carry their own credentials,
        never this client's token. Raises TransportError when no answer came
        (its message never quotes the request).
        """
        path = httpx.URL(url).path
        deadline = httpguard.Deadline(
            self._timeout, clock=self._monotonic, cancelled=self._cancelled
        )
        request = self._http.build_request(
            "GET", url, params=params, headers={"User-Agent": USER_AGENT, **headers}
        )
        try:
            response = self._fetch(request, deadline)
        except httpx.RequestError as exc:
            failure = describe_failure(exc, self._timeout)
            raise transport_error(exc, failure, "GET", path) from exc
        logger.debug("GET %s -> %d (outside the API)", path, response.status_code)
        return response

    # -- the request loop ----------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None,
        json: Any,
        idempotent: bool | None,
        policy: RetryPolicy,
        pace: bool,
        form: Mapping[str, str] | None = None,
        bearer: Secret | None = None,
    ) -> httpx.Response:
        """Send with pacing and retries; return a 2xx answer or raise a rotator error.

        *form* is sent as ``application/x-www-form-urlencoded``; *bearer* is
        sent instead of the client's token (and scrubbed from errors alike).
        """
        method = method.upper()
        bearer = bearer or self._token
        path = httpx.URL(url).path  # errors and logs never show the query string
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        budget = policy.max_total_wait
        overall = httpguard.Deadline(
            policy.deadline, clock=self._monotonic, cancelled=self._cancelled
        )
        rate_wait = self.rate_wait if self.rate_wait is not None else RateWait(budget)
        for attempt in range(1, policy.attempts + 1):
            ticket = self._ticket(rate_wait, method, path) if pace else None
            if ticket is not None:
                # The pacing wait is bounded by rate_wait; the deadline is for the answer.
                overall.extend(ticket.delay)
            final = attempt == policy.attempts
            try:
                response = self._attempt(
                    method,
                    url,
                    path,
                    (params, json, form, bearer),
                    attempt,
                    ticket,
                    overall.within(self._timeout),
                )
            except httpx.RequestError as exc:
                failure = describe_failure(exc, self._timeout)
                delay = min(policy.backoff(attempt, self._rng), budget)
                # Another attempt only if the wait leaves it some time before the deadline.
                out_of_time = budget <= 0 or delay >= overall.remaining()
                if final or out_of_time or not may_retry_exception(exc, idempotent=idempotent):
                    if attempt > 1:
                        failure += f"; gave up after {attempt} attempts"
                        if out_of_time and not final:
                            failure += f" within the {policy.deadline:g}s deadline"
                    raise transport_error(exc, failure, method, path) from exc
                why = failure
            else:
                if response.is_success:
                    return response
                status = response.status_code
                wait = required_wait(response.headers, self._clock()) if status == 429 else None
                left = overall.remaining()
                if wait is not None:
                    # The server named the wait: sleeping less is pointless and
                    # sleeping past our budget or deadline is not ours to do. Paced,
                    # the budget now holds the token until then: the next ticket waits.
                    allowed = min(rate_wait.left if pace else budget, left)
                    delay = 0.0 if pace else wait
                    fits = wait <= min(policy.max_delay, allowed)
                else:
                    delay = min(policy.backoff(attempt, self._rng), budget)
                    fits = budget > 0 and delay < left
                if final or not fits or not may_retry_status(status, idempotent=idempotent):
                    error = api_error(
                        response, method, path, attempt, retry_after=wait, hide=bearer
                    )
                    if isinstance(error, RateLimited) and wait is not None:
                        self._name_reset(error, self._clock() + wait)
                    raise error
                why = f"answer {status}"
            logger.info(
                "retrying %s %s in %.1fs after %s (attempt %d of %d, token %s)",
                method,
                path,
                delay,
                why,
                attempt,
                policy.attempts,
                self.fingerprint,
            )
            self._stats.add(retries=1)
            budget -= self._wait(delay)
        raise AssertionError("the last attempt always returns or raises")

    def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        payload: tuple[Mapping[str, str | int] | None, Any, Mapping[str, str] | None, Secret],
        attempt: int,
        ticket: Ticket | None,
        deadline: httpguard.Deadline,
    ) -> httpx.Response:
        """One request within *deadline*: counted, logged, how it ended fed to the rate budget.

        *payload* is the query, the JSON body, the form body and the bearer token.
        """
        params, json, form, bearer = payload
        self._stats.add(calls=1)
        try:
            request = self._http.build_request(
                method, url, params=params, json=json, data=form, headers=self._headers(bearer)
            )
            response = self._fetch(request, deadline)
        except httpx.RequestError as exc:
            self._stats.add(transport_errors=1)
            if ticket is not None:
                self.budget.observe(ticket, None, self._clock())
            self._stats.answered(self.fingerprint, None)
            logger.debug(
                "%s %s: %s (attempt %d, token %s)",
                method,
                path,
                describe_failure(exc, self._timeout),
                attempt,
                bearer.fingerprint,
            )
            raise
        self._stats.answered(self.fingerprint, response.status_code)
        if response.status_code == 429:
            self._stats.add(rate_limited=1)
        if ticket is not None:
            self.budget.observe(
                ticket, response.headers, self._clock(), status=response.status_code
            )
        logger.debug(
            "%s %s -> %d (attempt %d, token %s, request id %s)",
            method,
            path,
            response.status_code,
            attempt,
            bearer.fingerprint,
            response.headers.get("x-request-id", "-"),
        )
        return response

    def _fetch(self, request: httpx.Request, deadline: httpguard.Deadline) -> httpx.Response:
        """Send *request* within *deadline* and the client's timeout and body cap."""
        return httpguard.fetch(
            self._http, request, deadline=deadline, max_body=self._max_body, timeout=self._timeout
        )

    def _headers(self, bearer: Secret) -> dict[str, str]:
        # Built per request: a shared httpx.Client may serve other tokens.
        return {
            "Authorization": f"Bearer {bearer.reveal()}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }

    def _ticket(self, rate_wait: RateWait, method: str, path: str) -> Ticket:
        """This request's place in the token's budget, waited for; never past *rate_wait*."""
        now = self._clock()
        ticket = self.budget.acquire(
            self.fingerprint, now, max_wait=rate_wait.left, reservation=self.reservation
        )
        if isinstance(ticket, Refusal):
            logger.info("%s %s not sent: %s", method, path, ticket.message())
            raise refused_error(ticket, now, method=method, path=path)
        try:
            rate_wait.spend(self._wait(ticket.delay))
        except BaseException:  # e.g. the daemon's stop-aware sleep: never sent
            self.budget.cancel(ticket)
            raise
        return ticket

    def _name_reset(self, error: RateLimited, reset_at: float) -> None:
        """Say in a 429 given up on when the token's budget frees up again."""
        set_not_before(error, reset_at)
        error.args = (
            f"{error}; budget for token {self.fingerprint} resets at {clock_time(reset_at)}",
        )

    def _wait(self, seconds: float) -> float:
        if seconds > 0:
            self._sleep(seconds)
            self._stats.add(waited_seconds=seconds)
            return seconds
        return 0.0

    def _same_origin(self, link: str, path: str) -> str:
        """*link* made absolute, if it stays on the API's scheme, host and port."""
        try:
            target = self._api_origin.join(link)
        except httpx.InvalidURL as exc:
            raise DigitalOceanError(f"the next-page link of GET {path} is not a URL") from exc
        origin = self._api_origin
        if (target.scheme, target.host, target.port) != (origin.scheme, origin.host, origin.port):
            raise DigitalOceanError(
                f"the next-page link of GET {path} points at another host "
                f"({one_line(target.scheme)}://{one_line(target.host)}); not followed"
            )
        if target.path != httpx.URL(self._api_base + path).path:
            # The next page of a listing is the same listing: a link elsewhere on
            # the API (another collection, ../) is not followed.
            raise DigitalOceanError(
                f"the next-page link of GET {path} points at another path; not followed"
            )
        return str(target)


def _next_link(body: Mapping[str, Any]) -> str | None:
    links = body.get("links")
    pages = links.get("pages") if isinstance(links, dict) else None
    link = pages.get("next") if isinstance(pages, dict) else None
    return link if isinstance(link, str) and link else None
