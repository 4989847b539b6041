"""Shared pieces for the App Platform sink tests: an app, sandbox readers (fixtures: conftest).

No tests here; the sink tests import from this module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rotator.sandbox import Sandbox
from rotator.secret import Secret
from rotator.sinks import KeyPair, PushContext
from rotator.sinks.app_platform import AppPlatformSink

APP_SCOPES = ["app:read", "app:update"]
OLD_ACCESS = "DO00OLDACCESSKEY0001"
OLD_SECRET = "old-secret-Zm9vYmFyYmF6cXV4"
NEW_ACCESS = "DO00NEWACCESSKEY0002"
# Tests search every log, error, description and request log for this.
CANARY = "canary-secret-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c1e"
NEW_PAIR = KeyPair(NEW_ACCESS, Secret(CANARY))
CONTEXT = PushContext("media", "rotation-1", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


def env(key: str, value: str, scope: str = "RUN_TIME", kind: str = "GENERAL") -> dict[str, str]:
    return {"key": key, "value": value, "scope": scope, "type": kind}


def media_spec(*, app_level_keys: bool = False, keys: bool = True) -> dict[str, Any]:
    """An app with app-level and component secrets, a worker, a dev database and ingress."""
    pair = [
        env("SPACES_KEY", OLD_ACCESS),
        env("SPACES_SECRET", OLD_SECRET, kind="SECRET"),
    ]
    app_envs = [
        env("LOG_LEVEL", "info", "RUN_AND_BUILD_TIME"),
        env("SESSION_SECRET", "session-secret-plain", kind="SECRET"),
    ]
    web_envs = [
        env("SPACES_BUCKET", "media"),
        env("DATABASE_URL", "${db.DATABASE_URL}"),
        env("API_TOKEN", "api-token-plain", "RUN_AND_BUILD_TIME", "SECRET"),
    ]
    if keys:
        (app_envs if app_level_keys else web_envs)[1:1] = pair
    return {
        "name": "media-app",
        "region": "ams",
        "envs": app_envs,
        "services": [
            {
                "name": "web",
                "github": {"repo": "example/media", "branch": "main", "deploy_on_push": False},
                "environment_slug": "python",
                "instance_count": 2,
                "instance_size_slug": "apps-s-1vcpu-1gb",
                "http_port": 8080,
                "envs": web_envs,
            }
        ],
        "workers": [
            {
                "name": "thumbnailer",
                "github": {"repo": "example/media", "branch": "main", "deploy_on_push": False},
                "instance_count": 1,
                "instance_size_slug": "apps-s-1vcpu-0.5gb",
                "run_command": "python -m thumbnailer",
            }
        ],
        "databases": [{"name": "db", "engine": "PG", "production": False, "version": "16"}],
        "ingress": {"rules": [{"component": {"name": "web"}, "match": {"path": {"prefix": "/"}}}]},
    }


def with_pair(
    spec: dict[str, Any], component: str | None, access: str, secret: str, scope: str = "RUN_TIME"
) -> dict[str, Any]:
    """``spec`` as the sink should leave it: only the two entries replaced (or appended)."""
    expected = copy.deepcopy(spec)
    holder = expected if component is None else _component(expected, component)
    envs = holder.setdefault("envs", [])
    for key, value in (("SPACES_KEY", access), ("SPACES_SECRET", secret)):
        entry = {"key": key, "value": value, "scope": scope, "type": "SECRET"}
        index = next((i for i, e in enumerate(envs) if e["key"] == key), None)
        if index is None:
            envs.append(entry)
        else:
            envs[index] = {**entry, "scope": envs[index]["scope"]}
    return expected


def _component(spec: dict[str, Any], name: str) -> dict[str, Any]:
    kinds = ("services", "workers", "jobs", "static_sites", "functions")
    return next(c for kind in kinds for c in spec.get(kind, []) if c["name"] == name)


def stored_spec(sandbox: Sandbox, app_id: str) -> dict[str, Any]:
    """The app's spec as the sandbox keeps it (plaintext secrets)."""
    return sandbox.app(app_id)["spec"]


def deployments(sandbox: Sandbox, app_id: str) -> list[dict[str, Any]]:
    return sandbox.app(app_id)["deployments"]


def sent(sandbox: Sandbox, method: str) -> list[dict[str, Any]]:
    """Requests with that method in the sandbox's request log."""
    return [r for r in sandbox.requests() if r["method"] == method]


MakeAppSink = Callable[..., AppPlatformSink]
