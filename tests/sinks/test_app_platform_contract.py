"""The App Platform sink speaks DigitalOcean's spec, and its secret goes nowhere but the PUT."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from rotator.errors import SinkError
from tests.contract import Recorder, in_spec, request_errors, response_errors
from tests.sinks.app_platform_support import (
    CANARY,
    CONTEXT,
    NEW_ACCESS,
    NEW_PAIR,
    media_spec,
)


@pytest.fixture
def recorded(sandbox, make_app_sink):
    """Exchanges of pushes app-level and per component, a failed one and a lost answer."""
    recorder = Recorder()
    component_app, failing_app, unclear_app = (
        sandbox.add_app({**media_spec(), "name": name}) for name in ("one", "two", "three")
    )
    app_level_app = sandbox.add_app({**media_spec(app_level_keys=True), "name": "four"})
    sandbox.fail_next_deployment(failing_app, "ERROR")
    sandbox.add_fault(method="PUT", path=f"/v2/apps/{unclear_app}", status=500, after=True)
    with httpx.Client(event_hooks={"response": [recorder.hook]}) as http:
        make_app_sink(component_app, http=http).push(NEW_PAIR, CONTEXT)
        make_app_sink(app_level_app, component=None, http=http).push(NEW_PAIR, CONTEXT)
        with pytest.raises(SinkError):
            make_app_sink(failing_app, http=http).push(NEW_PAIR, CONTEXT)
        make_app_sink(unclear_app, http=http).push(NEW_PAIR, CONTEXT)
        make_app_sink(component_app, http=http).describe_push(NEW_ACCESS, CONTEXT)
        make_app_sink(component_app, http=http).holds()
    return recorder.exchanges


def test_the_pushes_reach_every_app_operation_the_sink_uses(recorded, openapi_spec):
    operations = {
        (e.request.method, e.request.url.path.count("/"), e.response.status_code)
        for e in recorded
        if in_spec(openapi_spec, e)
    }
    assert {("GET", 3, 200), ("PUT", 3, 200), ("PUT", 3, 500), ("GET", 5, 200)} <= operations


def test_every_request_the_sink_sends_matches_the_spec(recorded, openapi_spec):
    problems = {
        e.label: request_errors(openapi_spec, e) for e in recorded if in_spec(openapi_spec, e)
    }
    assert {label: errors for label, errors in problems.items() if errors} == {}


def test_every_answer_the_sink_reads_matches_the_spec(recorded, openapi_spec):
    problems = {
        e.label: response_errors(openapi_spec, e) for e in recorded if in_spec(openapi_spec, e)
    }
    assert {label: errors for label, errors in problems.items() if errors} == {}


def test_the_secret_travels_only_in_put_bodies(recorded):
    for exchange in recorded:
        assert CANARY not in exchange.response.text
        assert CANARY not in str(exchange.request.url)
        assert CANARY not in json.dumps(dict(exchange.request.headers))
        if exchange.request.method != "PUT":
            assert CANARY.encode() not in exchange.request.content


def test_the_secret_never_reaches_logs_errors_descriptions_or_the_request_log(
    sandbox, make_app_sink, caplog
):
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    app_id = sandbox.add_app(media_spec())
    seen: list[str] = []

    def remember(error: BaseException | None) -> None:
        # Every exception a traceback of this error would print.
        while error is not None:
            seen.extend([str(error), repr(error), repr(error.args)])
            error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)

    confirmation = make_app_sink(app_id).push(NEW_PAIR, CONTEXT)
    seen.append(repr(confirmation))
    seen.extend(make_app_sink(app_id).describe_push(NEW_ACCESS, CONTEXT))
    seen.append(repr(make_app_sink(app_id).holds()))
    for arrange in (
        lambda: sandbox.fail_next_deployment(app_id, "ERROR"),
        lambda: sandbox.add_fault(method="PUT", path=f"/v2/apps/{app_id}", status=500),
        lambda: sandbox.add_fault(
            method="PUT", path=f"/v2/apps/{app_id}", status=422, body={"id": "x", "message": CANARY}
        ),
    ):
        arrange()
        with pytest.raises(SinkError) as caught:
            make_app_sink(app_id).push(NEW_PAIR, CONTEXT)
        remember(caught.value)
    with pytest.raises(SinkError) as caught:
        make_app_sink(app_id, scopes=["app:read"]).push(NEW_PAIR, CONTEXT)
    remember(caught.value)

    assert CANARY not in caplog.text
    assert CANARY not in "\n".join(repr(record.args) for record in caplog.records)
    assert CANARY not in "\n".join(seen)
    assert CANARY not in json.dumps(sandbox.requests())
