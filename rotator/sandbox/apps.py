"""App Platform: ``/v2/apps`` and its deployments.

``PUT /v2/apps/{id}`` replaces the whole spec and starts a deployment. A
deployment still pending or in progress when a newer one starts is frozen
as SUPERSEDED (the spec does not say whether the real API refuses such a PUT;
accepting it and superseding is the choice here). The app's running
environment only changes when a deployment reaches ACTIVE.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from rotator.sandbox import appspec, sealing
from rotator.sandbox.calls import Call, Reply, not_found, unprocessable
from rotator.sandbox.deployments import STEPS, ZERO_TIME, Deployment, iso, progress
from rotator.sandbox.pagination import paginate
from rotator.sandbox.state import App, State, Tenant

FAILURE_PHASES = ("ERROR", "CANCELED")


def _sealer(state: State, app_id: str) -> Callable[[str], str]:
    return functools.partial(sealing.seal, state.seal_key, app_id)


def _unsealer(state: State, app_id: str) -> Callable[[str], str | None]:
    return functools.partial(sealing.unseal, state.seal_key, app_id)


def check_spec(state: State, app_id: str, raw: Any) -> dict[str, Any]:
    """Validate a spec for the app ``app_id``; EVs it issued are unsealed."""
    return appspec.validate_spec(raw, _unsealer(state, app_id))


def render_deployment(state: State, app: App, deployment: Deployment) -> dict[str, Any]:
    """A deployment as ``GET /v2/apps/{app_id}/deployments/{id}`` shows it."""
    now = state.clock()
    phase = deployment.phase(now)
    changed = deployment.phase_changed_at(now)
    shown: dict[str, Any] = {
        "id": deployment.id,
        "spec": appspec.render_spec(deployment.spec, _sealer(state, app.id)),
        "cause": deployment.cause,
        "phase": phase,
        "phase_last_updated_at": iso(changed) if changed is not None else ZERO_TIME,
        "created_at": iso(deployment.created_at),
        "updated_at": iso(changed if changed is not None else deployment.created_at),
        "progress": progress(phase, appspec.component_names(deployment.spec)),
        "tier_slug": "basic",
    }
    for kind in appspec.COMPONENT_KINDS:
        components = deployment.spec.get(kind) or []
        if components:
            shown[kind] = [{"name": c["name"]} for c in components]
    return shown


def render_app(
    state: State, tenant: Tenant, app: App, pending: Deployment | None = None
) -> dict[str, Any]:
    """An app as ``GET /v2/apps/{id}`` shows it (secrets sealed).

    ``pending`` forces ``pending_deployment`` (the answer to a create or update
    always names the deployment it started).
    """
    now = state.clock()
    app.settle(now)
    region = str(app.spec.get("region", "nyc"))
    shown: dict[str, Any] = {
        "id": app.id,
        "owner_uuid": tenant.account.uuid,
        "spec": appspec.render_spec(app.spec, _sealer(state, app.id)),
        "default_ingress": app.default_ingress,
        "created_at": iso(app.created_at),
        "updated_at": iso(app.updated_at),
        "region": {"slug": region, "label": region.upper(), "data_centers": [f"{region}1"]},
        "tier_slug": "basic",
    }
    if app.deployments:
        shown["last_deployment_created_at"] = iso(app.deployments[-1].created_at)
    active = app.deployment(app.active_deployment_id)
    if active is not None:
        shown["active_deployment"] = render_deployment(state, app, active)
        shown["last_deployment_active_at"] = iso(active.finishes_at())
        shown["live_url"] = app.default_ingress
        shown["live_url_base"] = app.default_ingress
        shown["live_domain"] = app.default_ingress.removeprefix("https://")
    running = app.running_deployment(now)
    if running is not None:
        slot = "pending_deployment" if running.phase(now) == STEPS[0] else "in_progress_deployment"
        shown[slot] = render_deployment(state, app, running)
    if pending is not None:
        shown["pending_deployment"] = render_deployment(state, app, pending)
    return shown


def new_app(state: State, tenant: Tenant, raw_spec: Any, *, deployed: bool) -> App:
    """Create an app; ``deployed`` makes its first deployment ACTIVE at once (seeding)."""
    with state.changing():
        app_id = str(uuid.uuid4())
        spec = check_spec(state, app_id, raw_spec)
        now = state.clock()
        suffix = secrets.token_hex(3)
        app = App(app_id, spec, now, now, f"https://{spec['name']}-{suffix}.ondigitalocean.app")
        step = 0.0 if deployed else state.deployment_step_seconds
        app.deployments.append(Deployment.start(spec, "initial deployment", now, step, "ACTIVE"))
        app.settle(now)
        tenant.apps[app_id] = app
        return app


def deploy(state: State, app: App, cause: str) -> Deployment:
    """Start a deployment of the app's current spec, superseding any still running."""
    with state.changing():
        now = state.clock()
        app.settle(now)
        for deployment in app.deployments:
            if deployment.running(now):
                deployment.freeze("SUPERSEDED", now)
        outcome = app.fail_next or "ACTIVE"
        app.fail_next = None
        deployment = Deployment.start(app.spec, cause, now, state.deployment_step_seconds, outcome)
        app.deployments.append(deployment)
        app.settle(now)
        return deployment


def _app(call: Call, key: str = "id") -> App:
    app = call.tenant.apps.get(call.params[key])
    if app is None:
        raise not_found()
    return app


def list_apps(call: Call) -> Reply:
    """``GET /v2/apps`` (app:read), paginated."""
    with call.state.lock:
        tenant = call.tenant
        apps = [render_app(call.state, tenant, a) for a in tenant.apps.values()]
    return Reply(200, paginate(call, "apps", apps))


def get_app(call: Call) -> Reply:
    """``GET /v2/apps/{id}`` (app:read)."""
    with call.state.lock:
        return Reply(200, {"app": render_app(call.state, call.tenant, _app(call))})


def create_app(call: Call) -> Reply:
    """``POST /v2/apps`` (app:create) with ``{"spec": ...}``: creates and starts deploying."""
    body = call.json_object()
    if "spec" not in body:
        raise unprocessable("spec is required.")
    app = new_app(call.state, call.tenant, body["spec"], deployed=False)
    with call.state.lock:
        return Reply(200, {"app": render_app(call.state, call.tenant, app, app.deployments[-1])})


def update_app(call: Call) -> Reply:
    """``PUT /v2/apps/{id}`` (app:update) with ``{"spec": ...}``: replace spec, deploy."""
    with call.state.changing():
        app = _app(call)
        body = call.json_object()
        if "spec" not in body:
            raise unprocessable("spec is required.")
        app.spec = check_spec(call.state, app.id, body["spec"])
        app.updated_at = call.now
        deployment = deploy(call.state, app, "app spec updated")
        return Reply(200, {"app": render_app(call.state, call.tenant, app, deployment)})


def delete_app(call: Call) -> Reply:
    """``DELETE /v2/apps/{id}`` (app:delete) → ``{"id": ...}``."""
    with call.state.changing():
        app = _app(call)
        del call.tenant.apps[app.id]
        return Reply(200, {"id": app.id})


def propose(call: Call) -> Reply:
    """``POST /v2/apps/propose`` (app:read): validate a spec, create nothing."""
    body = call.json_object()
    app_id = body.get("app_id")
    with call.state.lock:
        binding = str(app_id) if app_id else ""
        if app_id and app_id not in call.tenant.apps:
            raise not_found()
        spec = check_spec(call.state, binding, body.get("spec"))
        taken = {a.spec.get("name") for a in call.tenant.apps.values() if a.id != app_id}
        seal = _sealer(call.state, binding)
    static = bool(spec.get("static_sites")) and not any(
        spec.get(kind) for kind in ("services", "workers", "jobs", "functions")
    )
    return Reply(
        200,
        {
            "app_name_available": spec["name"] not in taken,
            "app_is_static": static,
            "app_cost": 0 if static else 5 * max(1, len(appspec.component_names(spec))),
            "app_tier_downgrade_cost": 0,
            "existing_static_apps": "0",
            "spec": appspec.render_spec(spec, seal),
        },
    )


def list_deployments(call: Call) -> Reply:
    """``GET /v2/apps/{app_id}/deployments`` (app:read), newest first, paginated."""
    with call.state.lock:
        app = _app(call, "app_id")
        app.settle(call.now)
        shown = [render_deployment(call.state, app, d) for d in reversed(app.deployments)]
    return Reply(200, paginate(call, "deployments", shown))


def create_deployment(call: Call) -> Reply:
    """``POST /v2/apps/{app_id}/deployments`` (app:update) with ``{"force_build": bool}``."""
    with call.state.changing():
        app = _app(call, "app_id")
        body = call.json_object()
        if "force_build" in body and not isinstance(body["force_build"], bool):
            raise unprocessable("force_build must be a boolean.")
        deployment = deploy(call.state, app, "manual")
        return Reply(200, {"deployment": render_deployment(call.state, app, deployment)})


def _deployment(call: Call) -> tuple[App, Deployment]:
    app = _app(call, "app_id")
    app.settle(call.now)
    deployment = app.deployment(call.params["deployment_id"])
    if deployment is None:
        raise not_found()
    return app, deployment


def get_deployment(call: Call) -> Reply:
    """``GET /v2/apps/{app_id}/deployments/{deployment_id}`` (app:read)."""
    with call.state.lock:
        app, deployment = _deployment(call)
        return Reply(200, {"deployment": render_deployment(call.state, app, deployment)})


def cancel_deployment(call: Call) -> Reply:
    """``POST /v2/apps/{app_id}/deployments/{deployment_id}/cancel`` (app:update)."""
    with call.state.changing():
        app, deployment = _deployment(call)
        if not deployment.running(call.now):
            raise unprocessable("The deployment is not pending or in progress.")
        deployment.freeze("CANCELED", call.now)
        return Reply(200, {"deployment": render_deployment(call.state, app, deployment)})


HANDLERS = {
    "apps_list": list_apps,
    "apps_get": get_app,
    "apps_create": create_app,
    "apps_update": update_app,
    "apps_delete": delete_app,
    "apps_validate_appSpec": propose,
    "apps_list_deployments": list_deployments,
    "apps_create_deployment": create_deployment,
    "apps_get_deployment": get_deployment,
    "apps_cancel_deployment": cancel_deployment,
}
