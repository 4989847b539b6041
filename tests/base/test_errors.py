"""The error tree: who is transient, and how a translated error says so."""

import pytest

from rotator import errors
from rotator.errors import (
    AlertError,
    APIError,
    ConfigError,
    Forbidden,
    RateLimited,
    RotatorError,
    ServerError,
    SinkError,
    TransportError,
)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TransportError("timed out", method="GET", path="/v2/account"), True),
        (RateLimited(429, "slow down", retry_after=3.0), True),
        (ServerError(503, "down"), True),
        (Forbidden(403, "no scope"), False),
        (APIError(418, "teapot"), False),
        (ConfigError("config", ["bad"]), False),
        (SinkError("vault:secret/x", "denied"), False),
        (SinkError("vault:secret/x", "cannot reach", transient=True), True),
        (AlertError("ops", "answered 404"), False),
        (AlertError("ops", "no answer", transient=True), True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_every_error_says_whether_it_may_pass_on_its_own(error, transient):
    assert error.transient is transient


def test_every_error_class_is_drawn_in_the_tree_and_has_a_docstring():
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, RotatorError)
    ]
    for cls in classes:
        assert cls.__name__ in errors.__doc__, cls
        assert cls.__doc__ and "\n" not in cls.__doc__.strip(), cls
        assert isinstance(cls.transient, bool)
