"""Plain helpers for the sandbox tests (fixtures live in conftest.py)."""

from __future__ import annotations

import httpx


def assert_error(response: httpx.Response, status: int, error_id: str) -> None:
    """DigitalOcean's error shape: status, ``{"id","message","request_id"}``, ``x-request-id``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["id"] == error_id
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
