"""GitHub's REST API as the ``github_actions`` sink speaks it: one deadline, one error map.

:class:`GitHubHTTP` sends one request with the headers GitHub asks for
(``Accept: application/vnd.github+json``, ``X-GitHub-Api-Version:
2022-11-28``, ``Authorization: Bearer …``, a ``User-Agent``), never follows
a redirect (one could carry the token to a host nobody configured), never
reads the environment (no proxy, no ``.netrc``), and reads the whole answer
within one total deadline and a body cap (the exchange shared by the sinks
that speak HTTP themselves, :mod:`rotator.sinks.http`).

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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from rotator import __version__
from rotator.errors import SinkError
from rotator.secret import Secret
from rotator.sinks import http
from rotator.sinks.http import SinkHTTP, detail, host_port

__all__ = ["API_VERSION", "DEFAULT_TIMEOUT", "MAX_ANSWER", "Answer", "GitHubHTTP", "host_port"]

DEFAULT_TIMEOUT = 10.0  # seconds for one request to GitHub, first byte to last
MAX_ANSWER = 1 << 20  # bytes; GitHub's answers to these calls are a few hundred bytes
API_VERSION = "2022-11-28"
NEEDED_PERMISSION = "secrets: write"


@dataclass(frozen=True)
class Answer(http.Answer):
    """GitHub's answer to one request: status, JSON body (``{}`` when empty), a few headers."""

    date: datetime | None = None  # GitHub's clock: the ``Date`` header
    rate_limited: bool = False  # a 403/429 that says the rate limit is spent
    request_id: str = ""  # ``X-GitHub-Request-Id``, for GitHub support

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _server_date(headers: httpx.Headers) -> datetime | None:
    """The answer's ``Date`` header as an aware UTC time, or None."""
    try:
        when = parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)


class GitHubHTTP(SinkHTTP):
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
        super().__init__(label, api_url, service="GitHub", timeout=timeout, max_answer=MAX_ANSWER)
        self.target = target  # "repository owner/name": for messages
        self._token = token

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
        reply = self.exchange(method, path, action, headers=headers, json_body=json_body)
        status = reply.status
        limited = status in (403, 429) and (
            reply.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in reply.headers
        )
        return Answer(
            status,
            reply.json(lambda text: {"message": text}),
            _server_date(reply.headers),
            limited,
            reply.headers.get("x-github-request-id", ""),
        )

    def redirected(self, response: httpx.Response, action: str) -> str:
        return (
            f"{self.where} redirected {action} ({response.status_code}); rotator does not "
            f"follow redirects: was {self.target} renamed or transferred?"
        )

    def refused(self, answer: Answer, action: str, hide: Iterable[Secret] = ()) -> SinkError:
        """The :class:`SinkError` for an error answer, one line, never a secret."""
        where = self.where
        quoted = detail(answer.message, [self._token, *hide])
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
            message = f"{where} refused {action} (422){quoted}"
        elif status >= 500:
            return SinkError(
                self.label, f"{where} failed ({status}) while {action}{quoted}", transient=True
            )
        else:
            message = f"{where} gave an unexpected answer ({status}) while {action}{quoted}"
        return SinkError(self.label, message)
