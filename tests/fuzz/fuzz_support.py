"""What every fuzz property shares: example budgets, strategies and the one-line check.

The property, for every parser of outside input: it returns a result or
raises one :class:`~rotator.errors.RotatorError` whose message is one line
and holds no planted secret; never any other exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from rotator.errors import RotatorError

T = TypeVar("T")

# Modest budgets, no example database in the work tree: the suite runs in well under a minute.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

CANARY_TOKEN = "dop_v1_" + "badc0ffe" * 8
CANARY_SECRET = "canary-secret-0d15ea5e"
CANARIES = (CANARY_TOKEN, CANARY_SECRET)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def objects_with(fields: list[str], values: st.SearchStrategy[Any] = json_values) -> Any:
    """JSON objects whose keys are mostly the ones a parser looks for."""
    return st.dictionaries(st.sampled_from(fields) | st.text(max_size=8), values, max_size=8)


def assert_one_clean_line(error: BaseException) -> None:
    text = str(error)
    assert "\n" not in text and "\r" not in text, text
    for canary in CANARIES:
        assert canary not in text, "a planted secret reached an error message"


def outcome(call: Callable[[], T]) -> T | RotatorError:
    """The result of *call*, or the RotatorError it raised (checked); anything else fails."""
    try:
        return call()
    except RotatorError as exc:
        assert_one_clean_line(exc)
        return exc


def dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()
