"""Check HTTP exchanges against DigitalOcean's OpenAPI spec with openapi-core.

Shared by the sandbox's contract tests (what the sandbox answers) and the
client's (what rotator sends). The spec's README lists its quirks: the
"forbid" policies reject correct bodies, so defaults are used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

SERVER = "https://api.digitalocean.com"  # the spec's server; a sandbox URL maps onto it


@dataclass
class Exchange:
    """One request and the response it got."""

    request: httpx.Request
    response: httpx.Response
    request_is_valid: bool

    @property
    def label(self) -> str:
        return f"{self.request.method} {self.request.url.path} → {self.response.status_code}"


class Recorder:
    """Keeps every request/response pair an httpx client exchanged (a response hook)."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._valid = True

    def hook(self, response: httpx.Response) -> None:
        response.read()
        self.exchanges.append(Exchange(response.request, response, self._valid))

    @contextlib.contextmanager
    def deliberately_invalid(self) -> Iterator[None]:
        """Requests sent here break the spec on purpose (probes, bad input)."""
        self._valid = False
        try:
            yield
        finally:
            self._valid = True


def openapi_request(request: httpx.Request) -> Any:
    from openapi_core.testing import MockRequest

    return MockRequest(
        SERVER,
        request.method,
        request.url.path,
        args=dict(request.url.params.multi_items()),
        headers=dict(request.headers),
        data=request.content or None,
        content_type=request.headers.get("content-type", "application/json"),
    )


def openapi_response(response: httpx.Response) -> Any:
    from openapi_core.testing import MockResponse

    return MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type"),
    )


def in_spec(openapi_spec: Any, exchange: Exchange) -> bool:
    """Whether the spec has an operation for this exchange's method and path."""
    from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

    try:
        openapi_spec.validate_response(
            openapi_request(exchange.request), openapi_response(exchange.response)
        )
    except (PathNotFound, OperationNotFound):
        return False
    except Exception:  # in the spec, but not valid: the caller reports that
        return True
    return True


def request_errors(openapi_spec: Any, exchange: Exchange) -> list[str]:
    return [str(e) for e in openapi_spec.iter_request_errors(openapi_request(exchange.request))]


def response_errors(openapi_spec: Any, exchange: Exchange) -> list[str]:
    return [
        str(e)
        for e in openapi_spec.iter_response_errors(
            openapi_request(exchange.request), openapi_response(exchange.response)
        )
    ]
