"""The App Platform sink: env vars of one app, delivered by a deployment.

The sink owns the variables its ``env`` table maps to the credential's
fields (``access_key_env``/``secret_key_env`` for a Spaces key's two).

A push:

1. GETs the app and, while a deployment is pending or in progress, waits
   (never PUT over a running deployment), bounded by ``deploy_timeout``. In
   the daemon (``context.defer``) it does not wait: it answers
   :class:`~rotator.sinks.base.Pending` with nothing written
   (``pushed = "no"``), and the rotation pushes again on its own schedule,
   the ``deploy_timeout`` counted from the first look;
2. deep-copies the spec exactly as read and changes only the owned
   variables (app level, or in the named component), as
   ``SECRET`` with the existing scope (``RUN_AND_BUILD_TIME`` when new).
   Every other variable, ``EV[...]`` secrets included, and every other field
   goes back as it came, since a PUT replaces the whole spec;
3. PUTs the spec once and follows the deployment it started until ACTIVE
   (confirmed), ERROR or CANCELED (failed: the running app keeps the previous
   key), or SUPERSEDED (the app is read again and whatever now deploys it is
   followed), bounded by ``deploy_timeout`` again.

Decisions worth knowing:

* **A PUT without a clear answer** (5xx, dropped connection, unreadable body)
  is never sent again blindly: it may have started a deployment. The app is
  read back instead. If the two owned entries differ from what was read
  before the PUT while the rest of the spec is unchanged, the update was
  applied, and the deployment it started is followed as usual. Otherwise the
  push fails and the rotation, which keeps the previous key alive, pushes
  again later.
* **A repeated push** of the same pair PUTs and deploys again. The app
  cannot be asked which key it holds (see ``holds``), so "already there"
  cannot be detected, and one redeploy is cheap and safe.
* **Attached databases**: the ``databases`` list (and any ``${db.*}``
  bindable reference in a variable) is copied back untouched. A spec that
  leaves a database out detaches it, and a dev database is destroyed with
  its data. A component named in the config that is a database is refused:
  databases have no env vars.
* **``holds``** reads the *running* deployment's spec. A ``SECRET`` variable
  comes back only as ``EV[...]``, so after the first push (which writes the
  access key as ``SECRET``) it answers None. It answers the access key id
  only while that variable is a plain ``GENERAL`` value.
* Comparing owned entries before and after relies on DigitalOcean returning
  the same ``EV[...]`` text for a stored value on every read, as it does (an
  app spec with EV values can be kept in git and re-applied).

The secret key is revealed only into the PUT body; it is never logged,
returned or raised, and the spec read back holds ``EV[...]`` values only.

This module holds the config table and the push's decisions;
:mod:`~rotator.sinks.app_platform_spec` edits the spec (pure functions) and
:mod:`~rotator.sinks.app_platform_deploy` makes the reads and bounded waits.

Why one module of this size: the push, the deployment follow-up and the
confirmation share the app spec they read and the rules of what the sink owns;
the deployment's phases are already apart (:mod:`app_platform_deploy`).
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import model_validator

from rotator.configtypes import Duration, EnvKey, NonEmpty, seconds
from rotator.digitalocean import apps
from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import (
    APIError,
    DigitalOceanError,
    RateLimited,
    SinkError,
)
from rotator.secret import Secret
from rotator.sinks.app_platform_deploy import AppDeployer, Before
from rotator.sinks.app_platform_spec import EnvTarget
from rotator.sinks.base import (
    Confirmation,
    Credential,
    Pending,
    PushContext,
    Sink,
    SinkConfig,
    SinkDeps,
    joined,
    placeholder,
)

logger = logging.getLogger(__name__)


class AppPlatformSinkConfig(SinkConfig):
    """``type = "app_platform"``: an App Platform app whose env vars receive the credential.

    ``env = { NAME = "field" }`` maps env var names to the credential's
    fields; ``access_key_env``/``secret_key_env`` are the Spaces-key spelling
    of ``env = { <access_key_env> = "access_key", <secret_key_env> = "secret_key" }``.
    """

    type: Literal["app_platform"]
    digitalocean_scopes: ClassVar[frozenset[str]] = frozenset({"app:read", "app:update"})
    app_id: NonEmpty
    component: str | None = None
    access_key_env: EnvKey | None = None
    secret_key_env: EnvKey | None = None
    env: dict[EnvKey, NonEmpty] | None = None
    # How long a push waits for a running deployment, and then for its own.
    deploy_timeout: Duration = timedelta(seconds=900)

    @model_validator(mode="after")
    def _one_mapping(self) -> AppPlatformSinkConfig:
        pair = (self.access_key_env, self.secret_key_env)
        if self.env is not None:
            if any(pair):
                raise ValueError("set env, or access_key_env and secret_key_env, not both")
            if not self.env:
                raise ValueError("env maps no variable")
        elif not all(pair):
            raise ValueError('set env = { NAME = "field" }, or access_key_env and secret_key_env')
        elif self.access_key_env == self.secret_key_env:
            raise ValueError("access_key_env and secret_key_env must differ")
        return self

    def mapping(self) -> tuple[tuple[str, str], ...]:
        """(env var, credential field) pairs, in order."""
        if self.env is not None:
            return tuple(self.env.items())
        assert self.access_key_env is not None and self.secret_key_env is not None
        return ((self.access_key_env, "access_key"), (self.secret_key_env, "secret_key"))

    def field_names(self) -> frozenset[str]:
        """The credential fields this sink reads (the policy checks its kind has them)."""
        return frozenset(field for _, field in self.mapping())

    def default_label(self) -> str:
        return self.app_id + (f"/{self.component}" if self.component else "")

    def build(self, deps: SinkDeps) -> AppPlatformSink:
        """The sink; uses the policy's connection (``deps.digitalocean``)."""
        if deps.digitalocean is None:
            raise SinkError(self.label, "needs a DigitalOcean client (the policy's connection)")
        return AppPlatformSink(
            self.label,
            client=deps.digitalocean,
            app_id=self.app_id,
            component=self.component,
            mapping=self.mapping(),
            sleep=deps.sleep,
            monotonic=deps.monotonic,
            deploy_timeout=seconds(self.deploy_timeout),
            poll_interval=deps.poll_interval,
        )


class AppPlatformSink(Sink):
    """Env vars of an App Platform app (app level or one component)."""

    type: ClassVar[str] = "app_platform"
    Config: ClassVar[builtins.type[SinkConfig]] = AppPlatformSinkConfig

    def __init__(
        self,
        label: str,
        *,
        client: DigitalOceanClient,
        app_id: str,
        component: str | None,
        mapping: tuple[tuple[str, str], ...] = (),
        access_key_env: str | None = None,
        secret_key_env: str | None = None,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
        deploy_timeout: float,
        poll_interval: float,
    ) -> None:
        super().__init__(label)
        if not mapping:
            if access_key_env is None or secret_key_env is None:
                raise SinkError(label, "maps no env var to a credential field")
            if access_key_env == secret_key_env:
                raise SinkError(label, "access_key_env and secret_key_env must differ")
            mapping = ((access_key_env, "access_key"), (secret_key_env, "secret_key"))
        if len({name for name, _ in mapping}) != len(mapping):
            raise SinkError(label, "maps one env var twice")
        self._client = client
        self._app_id = app_id
        self._component = component
        self._mapping = mapping
        self._spec = EnvTarget(label, app_id, component, mapping)
        self._monotonic = monotonic
        self._deploy_timeout = deploy_timeout
        self._deployer = AppDeployer(
            self._spec,
            client,
            sleep=sleep,
            monotonic=monotonic,
            deploy_timeout=deploy_timeout,
            poll_interval=poll_interval,
        )

    # -- the contract ------------------------------------------------------------

    def check(self) -> None:
        """GET the app and find the env list (``app:read``); ``app:update`` is the audit's job."""
        self._spec.env_holder(self._deployer.read_app()["spec"])

    def describe_push(self, access_key: str, context: PushContext) -> list[str]:
        """What a push would change, read from the app as it is now; never shows a secret."""
        app = self._deployer.read_app()
        holder = self._spec.env_holder(app["spec"])
        owned = self._spec.names
        envs = holder.get("envs") or []
        present = {env.get("key") for env in envs if isinstance(env, dict)}
        others = sum(1 for env in envs if isinstance(env, dict) and env.get("key") not in owned)
        lines = []
        running = apps.in_flight(app)
        if running is not None:
            lines.append(
                f"wait for deployment {running['id']} ({running.get('phase', 'pending')}) "
                f"of app {self._where} to finish"
            )
        verb = "set" if set(owned) <= present else "add"
        shown = joined(
            [
                f"{name}={access_key}"
                if field == context.identifier_field
                else f"{name}={placeholder(field)}"
                for name, field in self._mapping
            ]
        )
        lines.append(
            f"{verb} {shown} (SECRET) on app {self._where}; keep {others} other "
            f"variable{'' if others == 1 else 's'}; start a deployment and wait until it is ACTIVE"
        )
        return lines

    def push(self, keys: Credential, context: PushContext) -> Confirmation | Pending:
        """Write the fields, deploy, and return once the deployment serving them is ACTIVE.

        With ``context.defer`` (the daemon) it returns :class:`Pending` right
        after the PUT started a deployment: "pending: deployment <id>".
        """
        values = {
            name: value.reveal() if isinstance(value, Secret) else value
            for name, value in keys.fields().items()
        }
        missing = sorted({field for _, field in self._mapping} - set(values))
        if missing:
            raise SinkError(self.label, f"the credential has no field {', '.join(missing)}")
        secrets = [
            values[field] for _, field in self._mapping if isinstance(keys.fields()[field], Secret)
        ]
        self._deployer.progress = context.progress
        if context.defer:
            # The daemon never waits in a worker: a deployment running before the PUT
            # makes the push Pending too, looked at again on the daemon's schedule.
            app = self._deployer.look()
            running = apps.in_flight(app) if app is not None else None
            if app is None or running is not None:
                return self._wait_before_put(running, context)
            self._spec.env_holder(app["spec"])
        else:
            left = self._deploy_timeout - self._waited_so_far(context)
            app = self._deployer.wait_until_idle(self._monotonic() + max(0.0, left))
        before = Before(app["spec"], apps.active_deployment_id(app))
        spec = self._spec.edited(before.spec, values)
        shown = keys.fields()
        setting = " and ".join(
            f"{name} (secret)" if isinstance(shown[field], Secret) else f"{name}={shown[field]}"
            for name, field in self._mapping
        )
        logger.info(
            "app %s: setting %s for policy %s, rotation %s",
            self._where,
            setting,
            context.policy,
            context.rotation_id,
        )
        deadline = self._monotonic() + self._deploy_timeout
        answer, unclear = None, "the answer names no deployment"
        try:
            answer = apps.update_app_spec(self._client, self._app_id, spec)
        except DigitalOceanError as error:
            text = _scrub(str(error), secrets)
            if _refused(error):
                # Refused before any work was done: nothing changed, nothing to follow.
                cause = error if text == str(error) else None
                message = _scrub(self._deployer.explain(error), secrets)
                raise SinkError(self.label, message, transient=error.transient) from cause
            unclear = text
        # Outside the except block: a later error must not chain the PUT's error,
        # whose text could echo the request.
        started = apps.in_flight(answer) if answer is not None else None
        context.progress(
            f"{self.label}: PUT app {self._where} spec"
            + (f"; deployment {started['id']} started" if started is not None else "")
        )
        if answer is None or started is None:
            deployment_id = self._deployer.after_unclear_answer(unclear, before, deadline)
        else:
            expected = self._spec.owned(answer.get("spec"))
            if context.defer:
                pending = self._pending(str(started["id"]), before, expected, self._client.now())
                context.progress(f"{self.label}: pending: deployment {started['id']}")
                return pending
            deployment_id = self._deployer.follow(str(started["id"]), before, expected, deadline)
        logger.info(
            "app %s: deployment %s is ACTIVE with access key %s",
            self._where,
            deployment_id,
            keys.identifier,
        )
        return Confirmation(self.label, {"app_id": self._app_id, "deployment_id": deployment_id})

    def confirm(self, detail: dict[str, str], context: PushContext) -> Confirmation | Pending:
        """Is the deployment a deferred push started ACTIVE? One look (``defer``), else follow.

        The push's ``deploy_timeout`` counts from the PUT, across restarts.
        """
        try:
            deployment_id = detail["deployment_id"]
            since = float(detail["since"])
            expected_json = json.loads(detail.get("expected", "null"))
        except (KeyError, ValueError) as exc:
            raise SinkError(
                self.label, f"the pending push's record is unreadable ({exc})"
            ) from None
        expected = tuple(expected_json) if isinstance(expected_json, list) else None
        owned = expected if expected is not None and len(expected) == len(self._mapping) else None
        before = Before({}, detail.get("before_active") or None)
        confirmed = {"app_id": self._app_id}
        if not context.defer:
            left = max(0.0, since + self._deploy_timeout - self._client.now())
            deadline = self._monotonic() + left
            confirmed["deployment_id"] = self._deployer.follow(
                deployment_id,
                before,
                owned,
                deadline,
            )
            return Confirmation(self.label, confirmed)
        current, phase = self._deployer.step(deployment_id, before, owned)
        if phase == "ACTIVE":
            context.progress(f"{self.label}: deployment {current} ACTIVE")
            confirmed["deployment_id"] = current
            return Confirmation(self.label, confirmed)
        if self._client.now() - since >= self._deploy_timeout:
            raise SinkError(
                self.label,
                f"deployment {current} of app {self._where} is still {phase or 'unread'} after "
                f"{self._deploy_timeout:g}s; gave up waiting (it may still finish, so "
                "the previous key must stay valid)",
                transient=True,
            )
        if phase is not None:
            context.progress(f"{self.label}: deployment {current} {phase}")
        return Pending(
            self.label,
            {
                **detail,
                "deployment_id": current,
                "phase": phase or "?",
                "waiting_for": f"deployment {current}",
            },
        )

    def _waited_so_far(self, context: PushContext) -> float:
        """Seconds this push has waited already for a deployment running before its PUT."""
        waited = context.waited or {}
        try:
            since = float(waited["since"])
        except (KeyError, ValueError):
            return 0.0
        return max(0.0, self._client.now() - since)

    def _wait_before_put(self, running: dict[str, Any] | None, context: PushContext) -> Pending:
        """Pending, nothing written: a deployment (or an unreadable app) is in the way.

        ``deploy_timeout`` counts from the first look, across looks and restarts.
        """
        waited = dict(context.waited or {})
        now = self._client.now()
        since = now - self._waited_so_far(context)
        if running is not None:
            deployment, phase = str(running["id"]), str(running.get("phase", "PENDING"))
        else:  # the app could not be read now: keep what the last look saw
            deployment, phase = waited.get("deployment_id", "?"), waited.get("phase", "?")
        if now - since >= self._deploy_timeout:
            raise self._deployer.still_busy(running, phase)
        if (waited.get("deployment_id"), waited.get("phase")) != (deployment, phase):
            self._deployer.progress(
                f"{self.label}: waiting for deployment {deployment} ({phase}) to finish "
                "before updating"
            )
            logger.info(
                "app %s: waiting for deployment %s (%s) before updating",
                self._where,
                deployment,
                phase,
            )
        return Pending(
            self.label,
            {
                "app_id": self._app_id,
                "pushed": "no",
                "deployment_id": deployment,
                "phase": phase,
                "since": f"{since:.3f}",
                "waiting_for": f"deployment {deployment} to finish before the update",
            },
        )

    def _pending(self, deployment_id: str, before: Before, expected: object, now: float) -> Pending:
        return Pending(
            self.label,
            {
                "app_id": self._app_id,
                "deployment_id": deployment_id,
                "before_active": before.active_id or "",
                "expected": json.dumps(expected),
                "since": f"{now:.3f}",
                "phase": "PENDING",
                "waiting_for": f"deployment {deployment_id}",
            },
        )

    def holds(self) -> str | None:
        """The first mapped variable in the running deployment, when it is a plain GENERAL value.

        None when the variable is a SECRET (shown only as ``EV[...]``), is
        absent, or the app could not be read for a transient reason.
        """
        try:
            app = apps.get_app(self._client, self._app_id)
        except DigitalOceanError as error:
            if isinstance(error, APIError) and not error.transient:
                raise self._deployer.translated(error) from error
            logger.warning("app %s: cannot tell which key it holds: %s", self._where, error)
            return None
        active = app.get("active_deployment")
        spec = active.get("spec") if isinstance(active, dict) else None
        if not isinstance(spec, dict):
            return None
        owned = self._spec.owned(spec)
        entry = owned[0] if owned else None  # the first mapped variable
        if entry is None or entry.get("type") == "SECRET":
            return None
        value = entry.get("value")
        if not isinstance(value, str) or not value or value.startswith("EV["):
            return None
        return value

    # -- reading the app ----------------------------------------------------------

    @property
    def _where(self) -> str:
        return self._app_id + (f"/{self._component}" if self._component else "")


def _refused(error: DigitalOceanError) -> bool:
    """Whether DigitalOcean refused a request outright, so it changed nothing.

    A 4xx is a refusal; 429 is one too (DigitalOcean rate-limits before doing
    any work). A 5xx, a lost answer or an unreadable 2xx body may follow a
    change that was made.
    """
    if isinstance(error, RateLimited):
        return True
    return isinstance(error, APIError) and not error.transient


def _scrub(text: str, secrets: list[str]) -> str:
    # An error echoing the request body must not carry a secret any further.
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    return text
