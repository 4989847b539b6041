"""The request a handler sees, the reply it returns, and the errors it raises.

Handlers raise :class:`Problem` for any error answer; the pipeline turns it
into DigitalOcean's error body ``{"id", "message", "request_id"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rotator.sandbox.state import State, Tenant
    from rotator.sandbox.tokens import TokenRecord

# The error id DigitalOcean uses for each status (the spec's examples).
ERROR_IDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

MESSAGES = {
    400: "The request was malformed.",
    401: "Unable to authenticate you",
    403: "You are not authorized to perform this operation",
    404: "The resource you were accessing could not be found.",
    405: "Method not allowed.",
    422: "The request could not be processed.",
    429: "API Rate limit exceeded.",
    500: "Server Error",
    503: "Service Unavailable",
}


def error_id(status: int) -> str:
    """DigitalOcean's error id for a status (``server_error`` for unknown 5xx)."""
    if status in ERROR_IDS:
        return ERROR_IDS[status]
    return "server_error" if status >= 500 else "error"


class Problem(Exception):
    """An error answer: status, DigitalOcean error id and message."""

    def __init__(
        self, status: int, message: str | None = None, *, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.error_id = error_id(status)
        self.message = message or MESSAGES.get(status, "Error")
        self.headers = headers or {}
        super().__init__(f"{status} {self.error_id}: {self.message}")


def unprocessable(message: str) -> Problem:
    """422: the body was understood but is not valid."""
    return Problem(422, message)


def bad_request(message: str) -> Problem:
    """400: the request itself is malformed (JSON, query parameters)."""
    return Problem(400, message)


def not_found() -> Problem:
    """404 with DigitalOcean's message."""
    return Problem(404)


NO_BODY: Any = None


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str]:
    """``(user, password)`` from ``Authorization: Basic …``; ``("", "")`` when absent or bad."""
    value = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


@dataclass
class Reply:
    """A response: status, JSON body (None for none) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One API request as a handler sees it, authenticated and scope-checked."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    request_id: str
    base_url: str
    state: State
    params: dict[str, str] = field(default_factory=dict)
    token: TokenRecord | None = None

    @property
    def tenant(self) -> Tenant:
        """The account the token belongs to."""
        if self.token is None:
            raise RuntimeError("no authenticated token on this call")
        return self.state.tenant(self.token.account)

    @property
    def now(self) -> float:
        """The sandbox clock."""
        return self.state.clock()

    def arg(self, name: str) -> str | None:
        """The last value of a query parameter, if given."""
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        """The parsed JSON body; None when there is no body; 400 when unparseable."""
        if not self.body.strip():
            return NO_BODY
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"Request body is not valid JSON: {exc}") from exc

    def json_object(self, what: str = "request body") -> dict[str, Any]:
        """The body as a JSON object; 422 when missing or not an object."""
        data = self.json()
        if data is NO_BODY:
            raise unprocessable(f"The {what} is required.")
        if not isinstance(data, dict):
            raise unprocessable(f"The {what} must be a JSON object.")
        return data


Handler = Callable[[Call], Reply]
