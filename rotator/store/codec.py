"""The one codec between Python values and store columns: UTC times and JSON.

Times are written as fixed-width ISO 8601 text in UTC
(``2026-01-31T12:00:00.000000+00:00``), so comparing two columns as text
compares the moments. Reading is strict: a value that is not such a time (or
not the JSON a column holds) was edited by hand or damaged, and is reported
as :class:`~rotator.errors.StoreCorrupt` naming the column, never as a
traceback and never as a guessed value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rotator.errors import StoreCorrupt

SHOWN = 40  # characters of a bad value quoted in an error


def utc_now() -> datetime:
    """The wall clock, aware and in UTC: the store's default clock."""
    return datetime.now(UTC)


def encode_time(moment: datetime) -> str:
    """Fixed-width UTC text for an aware ``moment`` (a naive one is a bug)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime reached the store")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def encode_optional_time(moment: datetime | None) -> str | None:
    return None if moment is None else encode_time(moment)


def _corrupt(where: str, value: object, what: str) -> StoreCorrupt:
    shown = repr(value)[:SHOWN]
    return StoreCorrupt(
        f"the store's {where} holds {shown}, not {what}; "
        "it was edited or damaged: restore the store from a backup or correct that value"
    )


def decode_time(value: object, where: str) -> datetime:
    """The aware UTC moment in ``value``, or StoreCorrupt naming ``where``."""
    if not isinstance(value, str):
        raise _corrupt(where, value, "a UTC time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _corrupt(where, value, "a UTC time") from None
    if moment.tzinfo is None:
        raise _corrupt(where, value, "a UTC time")
    return moment.astimezone(UTC)


def decode_optional_time(value: object, where: str) -> datetime | None:
    return None if value is None else decode_time(value, where)


def encode_json(value: Mapping[str, Any] | list[Any]) -> str:
    return json.dumps(value, sort_keys=True)


def decode_json_object(value: object, where: str) -> dict[str, Any]:
    """The JSON object in ``value``, or StoreCorrupt naming ``where``."""
    parsed = _decode_json(value, where)
    if not isinstance(parsed, dict):
        raise _corrupt(where, value, "a JSON object")
    return parsed


def decode_json_list(value: object, where: str) -> list[Any]:
    """The JSON array in ``value``, or StoreCorrupt naming ``where``."""
    parsed = _decode_json(value, where)
    if not isinstance(parsed, list):
        raise _corrupt(where, value, "a JSON array")
    return parsed


def _decode_json(value: object, where: str) -> object:
    if not isinstance(value, str):
        raise _corrupt(where, value, "JSON text")
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise _corrupt(where, value, "JSON text") from None
