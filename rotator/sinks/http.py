"""One HTTP exchange for the sinks that speak their API themselves: GitHub, Vault, Kubernetes.

Each of those sinks sends a few JSON requests to one server it was configured
with and owes the same promises; :class:`SinkHTTP` keeps them once:

- one request at a time through :func:`rotator.httpguard.fetch` on a guarded
  client: one total deadline (connect to last byte), the answer's body capped
  at ``max_answer``, never a redirect followed, never the environment read
  (``trust_env=False``: no proxy, CA bundle or ``.netrc`` from outside the
  config);
- every failure leaves as one :class:`~rotator.errors.SinkError` line naming
  the sink, the server's ``host:port`` and what was being done: no answer →
  ``transient``, except a TLS failure (the same certificate comes back next
  time); an answer over the cap, a redirect, or a URL httpx cannot send to →
  definite;
- :meth:`Reply.json` decodes the answer only into a JSON object, so an HTML
  page from a proxy cannot crash a sink;
- :func:`transient_status` says which error statuses may pass on their own,
  and :func:`detail` quotes a server's words on one line with every secret
  scrubbed out.

Each sink keeps what is its own: its headers, its words (:class:`Wording`, the
redirect advice) and its map from an error status to a message.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from rotator.errors import SinkError
from rotator.httpguard import BodyTooLarge, Cancelled, Deadline, GuardedTransport, fetch
from rotator.secret import Secret

QUOTE_LIMIT = 300  # characters of a server's own words quoted in one message


def host_port(url: str, *, default_port: int | None = None) -> str:
    """``https://vault.example:8200/`` → ``vault.example:8200`` (a default port spelled out)."""
    parts = urlsplit(url)
    port = parts.port or default_port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or url
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def tls_failure(exc: BaseException) -> bool:
    """Whether an httpx error came from the TLS handshake.

    httpx chains the ``ssl`` error; httpguard may re-raise an error from
    itself, which loops the chain, so the walk stops at a loop, and httpx's
    own message keeps OpenSSL's ``[SSL: …]`` text when the chain does not.
    """
    visited: set[int] = set()
    seen: BaseException | None = exc
    while seen is not None and id(seen) not in visited:
        if isinstance(seen, ssl.SSLError) or (
            isinstance(seen, httpx.ConnectError) and "[SSL" in str(seen)
        ):
            return True
        visited.add(id(seen))
        seen = seen.__cause__ or seen.__context__
    return False


def transient_status(status: int, *also: int) -> bool:
    """Whether an error status may pass on its own: 429, 5xx, and any of *also*."""
    return status == 429 or status >= 500 or status in also


def scrub(text: str, secrets: Iterable[Secret]) -> str:
    """*text* with every (non-empty) secret's value replaced by ``[redacted]``."""
    for secret in secrets:
        value = secret.reveal()
        if value:
            text = text.replace(value, "[redacted]")
    return text


def detail(text: str, secrets: Iterable[Secret] = ()) -> str:
    """``": <text>"`` on one line, scrubbed, at most :data:`QUOTE_LIMIT` characters; ``""``."""
    says = scrub(" ".join(text.split()), secrets)[:QUOTE_LIMIT]
    return f": {says}" if says else ""


@dataclass(frozen=True)
class Answer:
    """A server's answer to one request: status and JSON body (``{}`` when empty)."""

    status: int
    body: Mapping[str, Any]

    @property
    def message(self) -> str:
        """The body's ``message`` (GitHub's and Kubernetes' error text) on one line, or ``""``."""
        message = self.body.get("message")
        return " ".join(message.split()) if isinstance(message, str) else ""


@dataclass(frozen=True)
class Reply:
    """A server's whole answer to one request that was not a redirect."""

    status: int
    raw: bytes
    headers: httpx.Headers

    def json(
        self, otherwise: Callable[[str], Mapping[str, Any]] | None = None
    ) -> Mapping[str, Any]:
        """The body as a JSON object: ``{}`` when empty or not an object.

        A body that is not JSON at all becomes ``otherwise(its first 200
        characters)`` when given (so its words can be quoted), else ``{}``.
        """
        if not self.raw.strip():
            return {}
        try:
            parsed = json.loads(self.raw)
        except ValueError:
            if otherwise is None:
                return {}
            return otherwise(self.raw[:200].decode("utf-8", "replace"))
        return parsed if isinstance(parsed, Mapping) else {}


@dataclass(frozen=True)
class Wording:
    """How one sink's messages say what it was doing (each sink keeps its words)."""

    doing: str = "while {action}"  # after "TLS with X failed" and "request to X failed"
    waiting: str = "while {action}"  # after "X did not answer within Ns"
    reaching: str = "while {action}"  # after "cannot reach X"
    untrusted: str = ""  # advice after "its certificate is not trusted"


class SinkHTTP:
    """One server as a sink sees it: explicit settings, one deadline per request, one error map.

    A sink's client subclasses it, names the server (``where``), and may
    override :meth:`_verify` (its TLS settings), :meth:`redirected` and
    :meth:`too_large` (its words for those).
    """

    wording = Wording()

    def __init__(
        self,
        label: str,
        url: str,
        *,
        service: str,
        timeout: float,
        max_answer: int,
        clock: Callable[[], float] = time.monotonic,
        default_port: int | None = None,
    ) -> None:
        self.label = label
        self.url = url.rstrip("/")
        self.address = host_port(self.url, default_port=default_port)
        self.where = f"{service} at {self.address}"
        self.timeout = timeout
        self.max_answer = max_answer
        self._clock = clock
        self._http: httpx.Client | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def _verify(self) -> ssl.SSLContext | bool:
        """How to check the server's certificate; may raise :class:`SinkError`."""
        return True

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.url,
                transport=GuardedTransport(verify=self._verify()),
                timeout=self.timeout,
                follow_redirects=False,
                trust_env=False,
            )
        return self._http

    def exchange(
        self,
        method: str,
        path: str,
        action: str,
        *,
        headers: Mapping[str, str],
        json_body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> Reply:
        """Send one request and read its whole answer; raises only :class:`SinkError`.

        Any status but a redirect comes back as a :class:`Reply`; the caller
        maps an error status to its own message.
        """
        sent = dict(headers)
        content = None
        if json_body is not None:
            content = json.dumps(json_body).encode()
            sent["Content-Type"] = content_type
        try:
            http = self._client()
            request = http.build_request(method, path, content=content, headers=sent)
            response = fetch(
                http,
                request,
                deadline=Deadline(self.timeout, clock=self._clock),
                max_body=self.max_answer,
                timeout=self.timeout,
            )
        except BodyTooLarge as exc:
            raise SinkError(self.label, self.too_large(exc, action)) from exc
        except Cancelled as exc:
            raise SinkError(
                self.label, f"gave up {action}: rotator is stopping", transient=True
            ) from exc
        except httpx.HTTPError as exc:
            raise SinkError(
                self.label, self.describe_transport(exc, action), transient=not tls_failure(exc)
            ) from exc
        except (ValueError, httpx.InvalidURL) as exc:  # a URL httpx cannot send to
            raise SinkError(self.label, f"cannot send to {self.address}: {exc}") from exc
        if 300 <= response.status_code < 400:
            raise SinkError(self.label, self.redirected(response, action))
        return Reply(response.status_code, response.content, response.headers)

    def redirected(self, response: httpx.Response, action: str) -> str:
        """The message for a redirect (never followed: it could carry the token elsewhere)."""
        return f"{self.where} redirected {action}; rotator does not follow redirects"

    def too_large(self, exc: BodyTooLarge, action: str) -> str:
        """The message for an answer over the body cap."""
        return f"{self.where} answered {action} at length"

    def describe_transport(self, exc: httpx.HTTPError, action: str) -> str:
        """Say in one line why no answer came back, naming the server but never a secret."""
        words = self.wording
        where = self.where
        if tls_failure(exc):
            doing = words.doing.format(action=action)
            advice = words.untrusted
            return f"TLS with {where} failed {doing}: its certificate is not trusted{advice}"
        if isinstance(exc, httpx.TimeoutException):
            waiting = words.waiting.format(action=action)
            return f"{where} did not answer within {self.timeout:g}s {waiting}"
        if isinstance(exc, httpx.ConnectError):
            reaching = words.reaching.format(action=action)
            return (
                f"cannot reach {where} {reaching} "
                "(connection refused, host unknown or network down)"
            )
        doing = words.doing.format(action=action)
        return f"request to {where} failed {doing} ({type(exc).__name__})"
