"""GitHub's REST API as the ``github_actions`` sink speaks it: one deadline, one error map.

:class:`GitHubHTTP` sends one request with the headers GitHub asks for
(``Accept: application/vnd.github+json``, ``X-GitHub-Api-Version:
2022-11-28``, ``Authorization: Bearer …``, a ``User-Agent``), never follows
a redirect (one could carry the token to a host nobody configured), never
reads the environment (no proxy, no ``.netrc``), and reads the whole answer
within one total deadline and a body cap (:mod:`rotator.httpguard`).

Every failure leaves as one :class:`~rotator.errors.SinkError` line naming
the sink, GitHub's ``host:port`` and what was being done:

- no answer, 429, a 403 that is a rate limit, 5xx → ``transient``;
- 401 → the token is invalid, expired or revoked;
- 403 and 404 → the token lacks ``secrets: write`` on the target, or the
  target does not exist (GitHub answers 404 for what a token may not see);
- 422 → GitHub refused the request, with its own (scrubbed) words.

GitHub's text is quoted only after the token and every value being written
are scrubbed out of it.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from rotator import __version__
from rotator.errors import SinkError
from rotator.httpguard import BodyTooLarge, Cancelled, Deadline, fetch, guarded_client
from rotator.secret import Secret

DEFAULT_TIMEOUT = 10.0  # seconds for one request to GitHub, first byte to last
MAX_ANSWER = 1 << 20  # bytes; GitHub's answers to these calls are a few hundred bytes
API_VERSION = "2022-11-28"
NEEDED_PERMISSION = "secrets: write"


@dataclass(frozen=True)
class Answer:
    """GitHub's answer to one request: status, JSON body (``{}`` when empty), a few headers."""

    status: int
    body: Mapping[str, Any]
    date: datetime | None = None  # GitHub's clock: the ``Date`` header
    rate_limited: bool = False  # a 403/429 that says the rate limit is spent
    request_id: str = ""  # ``X-GitHub-Request-Id``, for GitHub support

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        message = self.body.get("message")
        return " ".join(message.split()) if isinstance(message, str) else ""


def host_port(url: str) -> str:
    """``https://api.github.com`` → ``api.github.com:443``."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or url
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def _tls_failure(exc: BaseException) -> bool:
    """Whether an httpx error came from the TLS handshake (httpx chains the ssl error)."""
    visited: set[int] = set()
    seen: BaseException | None = exc
    while seen is not None and id(seen) not in visited:  # chains can loop
        if isinstance(seen, ssl.SSLError):
            return True
        visited.add(id(seen))
        seen = seen.__cause__ or seen.__context__
    return False


def _server_date(headers: httpx.Headers) -> datetime | None:
    """The answer's ``Date`` header as an aware UTC time, or None."""
    try:
        when = parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)


class GitHubHTTP:
    """One GitHub API base URL, one token, one deadline per request, one error map."""

    def __init__(
        self,
        label: str,
        api_url: str,
        token: Secret,
        *,
        target: str,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.label = label
        self.url = api_url.rstrip("/")
        self.address = host_port(self.url)
        self.target = target  # "repository owner/name": for messages
        self.timeout = timeout
        self._token = token
        self._http: httpx.Client | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = guarded_client(timeout=self.timeout)
        return self._http

    def send(
        self,
        method: str,
        path: str,
        action: str,
        json_body: Mapping[str, Any] | None = None,
    ) -> Answer:
        """Send one request and read its whole answer; raises only :class:`SinkError`.

        Any status comes back as an :class:`Answer`; :meth:`refused` turns an
        error status into the error to raise.
        """
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "Authorization": f"Bearer {self._token.reveal()}",
            "User-Agent": f"rotator/{__version__}",
        }
        content = json.dumps(json_body).encode() if json_body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            request = self._client().build_request(
                method, self.url + path, content=content, headers=headers
            )
            response = fetch(
                self._client(),
                request,
                deadline=Deadline(self.timeout),
                max_body=MAX_ANSWER,
                timeout=self.timeout,
            )
        except BodyTooLarge as exc:
            raise SinkError(
                self.label, f"GitHub at {self.address} answered {action} at length"
            ) from exc
        except Cancelled as exc:
            raise SinkError(
                self.label, f"gave up {action}: rotator is stopping", transient=True
            ) from exc
        except httpx.HTTPError as exc:
            raise SinkError(
                self.label, self._describe_transport(exc, action), transient=not _tls_failure(exc)
            ) from exc
        except (ValueError, httpx.InvalidURL) as exc:  # a URL httpx cannot send to
            raise SinkError(self.label, f"cannot send to {self.address}: {exc}") from exc
        status = response.status_code
        if 300 <= status < 400:
            raise SinkError(
                self.label,
                f"GitHub at {self.address} redirected {action} ({status}); rotator does not "
                f"follow redirects: was {self.target} renamed or transferred?",
            )
        raw = response.content
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = {"message": raw[:200].decode("utf-8", "replace")}
        limited = status in (403, 429) and (
            response.headers.get("x-ratelimit-remaining") == "0"
            or "retry-after" in response.headers
        )
        return Answer(
            status,
            body if isinstance(body, Mapping) else {},
            _server_date(response.headers),
            limited,
            response.headers.get("x-github-request-id", ""),
        )

    def refused(self, answer: Answer, action: str, hide: Iterable[Secret] = ()) -> SinkError:
        """The :class:`SinkError` for an error answer, one line, never a secret."""
        where = f"GitHub at {self.address}"
        says = self._scrub(answer.message, hide)[:300]
        detail = f": {says}" if says else ""
        status = answer.status
        if answer.rate_limited or status == 429:
            return SinkError(
                self.label,
                f"{where} is rate limiting rotator ({status}) while {action}; "
                "the old key stays in use until a later run",
                transient=True,
            )
        if status == 401:
            message = (
                f"{where} rejected the token (401: invalid, expired or revoked) while {action}"
            )
        elif status in (403, 404):
            message = (
                f"{where} answered {status} while {action}: the token lacks the "
                f"`{NEEDED_PERMISSION}` permission on {self.target}, or {self.target} "
                "does not exist"
            )
        elif status == 422:
            message = f"{where} refused {action} (422){detail}"
        elif status >= 500:
            return SinkError(
                self.label, f"{where} failed ({status}) while {action}{detail}", transient=True
            )
        else:
            message = f"{where} gave an unexpected answer ({status}) while {action}{detail}"
        return SinkError(self.label, message)

    def _scrub(self, text: str, hide: Iterable[Secret] = ()) -> str:
        for secret in [self._token, *hide]:
            value = secret.reveal()
            if value:
                text = text.replace(value, "[redacted]")
        return text

    def _describe_transport(self, exc: httpx.HTTPError, action: str) -> str:
        """Say in one line why no answer came back, naming the server but never a secret."""
        where = f"GitHub at {self.address}"
        if _tls_failure(exc):
            return f"TLS with {where} failed while {action}: its certificate is not trusted"
        if isinstance(exc, httpx.TimeoutException):
            return f"{where} did not answer within {self.timeout:g}s while {action}"
        if isinstance(exc, httpx.ConnectError):
            return (
                f"cannot reach {where} while {action} "
                "(connection refused, host unknown or network down)"
            )
        return f"request to {where} failed while {action} ({type(exc).__name__})"
