"""Fixtures for the github_actions sink: a running fake GitHub, token files, sinks from config."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rotator.sinks import SinkDeps
from rotator.sinks.github_actions import GitHubActionsSink, GitHubActionsSinkConfig
from tests.support.fake_github import FakeGitHub, Recorded

SPEC_FILE = Path(__file__).resolve().parents[1] / "spec" / "github" / "actions-secrets.json"
SERVER = "https://api.github.com"  # the description's server; the fake's URL maps onto it


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    fake.add_repository("acme/app")
    fake.add_environment("acme/app", "production")
    fake.add_organization("acme")
    yield fake
    fake.stop()


@pytest.fixture
def token_file(tmp_path: Path, github: FakeGitHub) -> Path:
    """A file holding a token with ``secrets: write`` on every target of the fake."""
    path = tmp_path / "github-token"
    path.write_text(github.add_token("write") + "\n")
    path.chmod(0o600)
    return path


GitHubSinkFactory = Callable[..., GitHubActionsSink]


@pytest.fixture
def make_github_sink(github: FakeGitHub, token_file: Path) -> Iterator[GitHubSinkFactory]:
    """Build a sink from config values (default: repository acme/app on the fake)."""
    built: list[GitHubActionsSink] = []

    def make(**values: Any) -> GitHubActionsSink:
        config: dict[str, Any] = {
            "type": "github_actions",
            "api_url": github.url,
            "token_file": str(token_file),
            "timeout": timedelta(seconds=5),
        }
        if "organization" not in values:
            config["repository"] = "acme/app"
        config.update(values)
        sink = GitHubActionsSinkConfig.model_validate(config).build(SinkDeps(policy="media"))
        assert isinstance(sink, GitHubActionsSink)
        built.append(sink)
        return sink

    yield make
    for sink in built:
        sink.close()


def write_token(path: Path, token: str) -> Path:
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


# -- GitHub's published description, checked with openapi-core -------------------------


def openapi() -> Any:
    openapi_core = pytest.importorskip("openapi_core")
    return openapi_core.OpenAPI.from_file_path(str(SPEC_FILE))


def spec_problems(spec: Any, exchange: Recorded) -> list[str]:
    """What in one exchange breaks GitHub's description (empty when all is well).

    Requests are checked always; a success answer against its operation; an
    error answer (the description lists none for these operations) as a
    ``basic-error`` body.
    """
    from jsonschema import Draft4Validator
    from openapi_core.testing import MockRequest, MockResponse

    headers = {k.lower(): v for k, v in exchange.headers.items()}
    request = MockRequest(
        SERVER,
        exchange.method.lower(),
        exchange.path,
        headers=headers,
        data=exchange.body or None,
        content_type=headers.get("content-type", "application/json"),
    )
    problems = [f"request: {e}" for e in spec.iter_request_errors(request)]
    if 200 <= exchange.status < 300:
        answer_headers = {k.lower(): v for k, v in exchange.answer_headers.items()}
        response = MockResponse(
            exchange.answer,
            status_code=exchange.status,
            headers=answer_headers,
            content_type=answer_headers.get("content-type", "application/json").split(";")[0],
        )
        problems += [f"response: {e}" for e in spec.iter_response_errors(request, response)]
    else:
        document = json.loads(SPEC_FILE.read_text())
        schema = document["components"]["schemas"]["basic-error"]
        body = json.loads(exchange.answer)
        problems += [f"error body: {e.message}" for e in Draft4Validator(schema).iter_errors(body)]
        if not isinstance(body.get("message"), str):
            problems.append("error body has no message")
    return problems
