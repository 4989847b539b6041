"""DigitalOcean's page-number pagination: ``page``, ``per_page``, ``links.pages``, ``meta.total``.

Links are full URLs that keep the caller's other query parameters, and only
the ones that apply are present: ``first``/``prev`` after page 1,
``next``/``last`` before the last page; ``links`` is ``{}`` on a single page.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from rotator.sandbox.calls import Call, bad_request

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 200


def _positive_int(call: Call, name: str, default: int, maximum: int | None = None) -> int:
    raw = call.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer, got {raw!r}.") from exc
    if value < 1 or (maximum is not None and value > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        raise bad_request(f"{name} must be at least 1{limit}, got {value}.")
    return value


def page_links(call: Call, page: int, per_page: int, total: int) -> dict[str, Any]:
    """The ``links`` object for one page of ``total`` items."""
    last = max(1, math.ceil(total / per_page))
    kept = [(k, v) for k, values in call.query.items() if k != "page" for v in values]

    def url(number: int) -> str:
        return f"{call.base_url}{call.path}?" + urlencode([*kept, ("page", str(number))])

    pages: dict[str, str] = {}
    if page > 1:
        pages["first"] = url(1)
        pages["prev"] = url(min(page - 1, last))
    if page < last:
        pages["next"] = url(page + 1)
        pages["last"] = url(last)
    return {"pages": pages} if pages else {}


def paginate(call: Call, key: str, items: list[Any]) -> dict[str, Any]:
    """``{key: [...], "links": ..., "meta": {"total": n}}`` for the requested page."""
    page = _positive_int(call, "page", 1)
    per_page = _positive_int(call, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    start = (page - 1) * per_page
    return {
        key: items[start : start + per_page],
        "links": page_links(call, page, per_page, len(items)),
        "meta": {"total": len(items)},
    }
