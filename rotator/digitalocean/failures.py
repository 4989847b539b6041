"""How an answer or a failure from DigitalOcean becomes rotator's error.

A non-2xx answer becomes the typed :class:`~rotator.errors.APIError` for its
status (its message, error id and request id scrubbed of the token); an
httpx failure a :class:`~rotator.errors.TransportError` with a short account
of what went wrong, never the exception's own text (which may quote a URL
or a header).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from rotator import httpguard
from rotator.errors import (
    APIError,
    DigitalOceanError,
    RateLimited,
    TransportError,
    api_error_for_status,
)
from rotator.logs import one_line
from rotator.secret import Secret

_MESSAGE_LIMIT = 500
# How h11 words a malformed answer (as opposed to a connection closed early).
_NOT_HTTP = re.compile(r"(?i)illegal|malformed|invalid|unexpected|not .*http|bad ")


def api_error(
    response: httpx.Response,
    method: str,
    path: str,
    attempts: int,
    *,
    retry_after: float | None,
    hide: Secret,
) -> APIError:
    """The typed error for a non-2xx answer, scrubbed of the token *hide*."""
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    message = _scrub(hide, body.get("message")) or response.reason_phrase
    if attempts > 1:
        message += f" (gave up after {attempts} attempts)"
    request_id = _scrub(hide, body.get("request_id")) or _scrub(
        hide, response.headers.get("x-request-id")
    )
    details: dict[str, Any] = {
        "error_id": _scrub(hide, body.get("id")),
        "request_id": request_id,
        "method": method,
        "path": path,
    }
    error_class = api_error_for_status(response.status_code)
    if error_class is RateLimited:
        return RateLimited(response.status_code, message, retry_after=retry_after, **details)
    return error_class(response.status_code, message, **details)


def _scrub(hide: Secret, value: object) -> str | None:
    """Server text fit for an error: a string, bounded, without the token."""
    if not isinstance(value, str) or not value:
        return None
    return one_line(value.replace(hide.reveal(), "[token]")[:_MESSAGE_LIMIT])


def json_object(response: httpx.Response, method: str, path: str) -> dict[str, Any]:
    """The body of an answer as a JSON object, or a DigitalOceanError saying why not."""
    try:
        body = response.json()
    except ValueError as exc:
        raise DigitalOceanError(f"the answer to {method} {path} is not JSON") from exc
    if not isinstance(body, dict):
        raise DigitalOceanError(f"the answer to {method} {path} is not a JSON object")
    return body


def transport_error(
    exc: httpx.RequestError, failure: str, method: str, path: str
) -> DigitalOceanError:
    """The rotator error for a request that got no usable answer."""
    if isinstance(exc, httpguard.BodyTooLarge):
        # An answer came, and it is unusable: not a transport failure, never retried.
        return DigitalOceanError(f"{failure} ({method} {path})")
    return TransportError(failure, method=method, path=path)


def describe_failure(exc: httpx.RequestError, timeout: float) -> str:
    """A short, secret-free account of an httpx failure (never its own text)."""
    after = f"after {timeout:g}s"
    if isinstance(exc, httpguard.DeadlineExceeded):
        return f"no complete answer within {exc.seconds:g}s (the server answers too slowly)"
    if isinstance(exc, httpguard.Cancelled):
        return "given up: the process is stopping"
    if isinstance(exc, httpguard.BodyTooLarge):
        return (
            f"the answer is larger than {httpguard.describe_size(exc.limit)}; "
            "refused without reading the rest"
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connecting timed out {after}"
    if isinstance(exc, httpx.ReadTimeout):
        return f"timed out {after} waiting for the answer"
    if isinstance(exc, httpx.WriteTimeout):
        return f"timed out {after} sending the request"
    if isinstance(exc, httpx.PoolTimeout):
        return f"timed out {after} waiting for a free connection"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused"
        if "name" in text or "resolution" in text or "address" in text:
            return "could not resolve the host"
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        if _NOT_HTTP.search(str(exc)):
            return "the answer is not valid HTTP"
        return "connection dropped before the answer was complete"
    if isinstance(exc, httpx.NetworkError):
        return "connection dropped"
    if isinstance(exc, httpx.ProxyError):
        return "the proxy refused the request"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "unsupported URL scheme"
    if isinstance(exc, httpx.LocalProtocolError):
        return "the request could not be sent"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, httpx.DecodingError):
        return "the answer could not be decoded"
    return f"request failed ({type(exc).__name__})"
