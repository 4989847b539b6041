"""The admin HTTP surface under ``/_sandbox/``: the in-process helpers over JSON.

For people running ``python -m rotator.sandbox`` (and scripts driving it).
No authentication: the sandbox only ever listens on loopback. Faults never
apply here and these calls are not in the request log. ``kill_pid`` is
refused over HTTP, so the admin surface cannot be used to signal arbitrary
processes.

======  =====================================  ==========================================
method  path                                   does
======  =====================================  ==========================================
GET     /_sandbox/state                        ``snapshot()``
GET     /_sandbox/counts                       ``count_resources()``
GET     /_sandbox/scopes                       the endpoint → scope table
POST    /_sandbox/tokens                       ``add_token(...)`` → 201 ``{"token"}``
POST    /_sandbox/tokens/revoke                ``revoke_token`` with ``{"token"}`` → 204
PUT     /_sandbox/account                      ``set_account_status`` ``{"status","message"}``
GET     /_sandbox/ratelimit                    the per-token limits ``{"per_minute","per_hour"}``
PUT     /_sandbox/ratelimit                    ``set_rate_limits`` ``{"per_minute","per_hour"}``
POST    /_sandbox/ratelimit/spend              ``spend_rate_budget`` (token, calls, seconds_ago)
GET     /_sandbox/faults                       armed faults
POST    /_sandbox/faults                       ``add_fault(...)`` → 201
DELETE  /_sandbox/faults                       ``clear_faults()`` → 204
GET     /_sandbox/requests                     ``requests()``
DELETE  /_sandbox/requests                     ``reset_request_log()`` → 204
GET     /_sandbox/spaces/keys                  ``spaces_keys()`` (with secrets)
POST    /_sandbox/spaces/keys                  ``add_spaces_key`` ``{"name","grants"}`` → 201
GET     /_sandbox/apps                         ids of the apps
POST    /_sandbox/apps                         ``add_app`` ``{"spec"}`` → 201 ``{"id"}``
GET     /_sandbox/apps/{id}                    ``app(id)`` (plaintext truth)
GET     /_sandbox/apps/{id}/env?component=web  ``app_running_env``
POST    /_sandbox/apps/{id}/fail-next-deployment  ``{"phase"}`` → 204
======  =====================================  ==========================================
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rotator.sandbox.calls import Problem, Reply
from rotator.sandbox.scopes import ENDPOINTS

if TYPE_CHECKING:
    from rotator.sandbox import Sandbox

_APP = re.compile(r"^/_sandbox/apps/(?P<id>[^/]+)(?P<rest>/env|/fail-next-deployment)?$")
_FAULT_OPTIONS = {
    "method",
    "path",
    "token",
    "times",
    "status",
    "body",
    "headers",
    "retry_after",
    "delay",
    "drop",
    "kill_signal",
    "after",
}


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise Problem(400, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Problem(422, "The request body must be a JSON object.")
    return data


def handle(
    sandbox: Sandbox, method: str, path: str, query: dict[str, list[str]], raw: bytes
) -> Reply:
    """Serve one admin request."""
    path = path.rstrip("/")
    body = _body(raw)
    route = (method, path)
    if route == ("GET", "/_sandbox/state"):
        return Reply(200, sandbox.snapshot())
    if route == ("GET", "/_sandbox/counts"):
        return Reply(200, sandbox.count_resources())
    if route == ("GET", "/_sandbox/scopes"):
        rows = [{k: v for k, v in asdict(e).items() if k != "pattern"} for e in ENDPOINTS]
        return Reply(200, {"endpoints": rows})
    if route == ("POST", "/_sandbox/tokens"):
        token = sandbox.add_token(
            list(body.get("scopes", [])),
            kind=str(body.get("kind", "personal")),
            account=body.get("account"),
            expires_in_seconds=body.get("expires_in_seconds"),
            name=body.get("name"),
        )
        return Reply(201, {"token": token})
    if route == ("POST", "/_sandbox/tokens/revoke"):
        sandbox.revoke_token(str(body.get("token", "")))
        return Reply(204)
    if route == ("PUT", "/_sandbox/account"):
        sandbox.set_account_status(
            str(body.get("status", "active")),
            str(body.get("message", "")),
            account=body.get("account"),
        )
        return Reply(200, {"account": sandbox.account_info(account=body.get("account"))})
    if path.startswith("/_sandbox/ratelimit"):
        return _ratelimit(sandbox, method, path, body)
    if path == "/_sandbox/faults":
        return _faults(sandbox, method, body)
    if route == ("GET", "/_sandbox/requests"):
        return Reply(200, {"requests": sandbox.requests()})
    if route == ("DELETE", "/_sandbox/requests"):
        sandbox.reset_request_log()
        return Reply(204)
    if route == ("GET", "/_sandbox/spaces/keys"):
        return Reply(200, {"keys": sandbox.spaces_keys(account=body.get("account"))})
    if route == ("POST", "/_sandbox/spaces/keys"):
        key = sandbox.add_spaces_key(
            str(body.get("name", "")), list(body.get("grants", [])), account=body.get("account")
        )
        return Reply(201, {"key": key})
    if route == ("GET", "/_sandbox/apps"):
        return Reply(200, {"apps": sandbox.app_ids()})
    if route == ("POST", "/_sandbox/apps"):
        spec = body.get("spec")
        if not isinstance(spec, dict):
            raise Problem(422, "spec is required and must be an object.")
        return Reply(201, {"id": sandbox.add_app(spec, account=body.get("account"))})
    match = _APP.match(path)
    if match is not None:
        return _app(sandbox, method, match.group("id"), match.group("rest"), query, body)
    raise Problem(404, f"No admin endpoint {method} {path}.")


def _ratelimit(sandbox: Sandbox, method: str, path: str, body: dict[str, Any]) -> Reply:
    try:
        if (method, path) == ("PUT", "/_sandbox/ratelimit"):
            sandbox.set_rate_limits(body.get("per_minute"), body.get("per_hour"))
        elif (method, path) == ("POST", "/_sandbox/ratelimit/spend"):
            calls, ago = body.get("calls", 0), body.get("seconds_ago", 0)
            if not isinstance(calls, int) or not isinstance(ago, int | float):
                raise ValueError("calls must be a whole number and seconds_ago a number")
            sandbox.spend_rate_budget(str(body.get("token", "")), calls, seconds_ago=ago)
            return Reply(204)
        elif (method, path) != ("GET", "/_sandbox/ratelimit"):
            raise Problem(405 if path == "/_sandbox/ratelimit" else 404)
    except ValueError as exc:
        raise Problem(422, str(exc)) from exc
    limiter = sandbox.limiter
    return Reply(200, {"per_minute": limiter.per_minute, "per_hour": limiter.per_hour})


def _faults(sandbox: Sandbox, method: str, body: dict[str, Any]) -> Reply:
    if method == "GET":
        return Reply(200, {"faults": sandbox.faults.armed()})
    if method == "DELETE":
        sandbox.clear_faults()
        return Reply(204)
    if method == "POST":
        if "kill_pid" in body:
            raise Problem(422, "kill_pid is only available in-process (Sandbox.add_fault).")
        unknown = sorted(set(body) - _FAULT_OPTIONS)
        if unknown:
            raise Problem(422, f"Unknown fault option(s): {', '.join(unknown)}.")
        sandbox.add_fault(**body)
        return Reply(201, {"faults": sandbox.faults.armed()})
    raise Problem(405)


def _app(
    sandbox: Sandbox,
    method: str,
    app_id: str,
    rest: str | None,
    query: dict[str, list[str]],
    body: dict[str, Any],
) -> Reply:
    if method == "GET" and rest is None:
        return Reply(200, {"app": sandbox.app(app_id)})
    if method == "GET" and rest == "/env":
        components = query.get("component") or []
        component = components[-1] if components else None
        return Reply(200, {"env": sandbox.app_running_env(app_id, component)})
    if method == "POST" and rest == "/fail-next-deployment":
        sandbox.fail_next_deployment(app_id, str(body.get("phase", "ERROR")))
        return Reply(204)
    raise Problem(405)
