"""The App Platform sink: two env vars of one app, delivered by a deployment.

A push:

1. GETs the app and, while a deployment is pending or in progress, waits
   (never PUT over a running deployment), bounded by ``deploy_timeout``;
2. deep-copies the spec exactly as read and changes only ``access_key_env``
   and ``secret_key_env`` (app level, or in the named component), as
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
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rotator.digitalocean import apps
from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import (
    APIError,
    DigitalOceanError,
    Forbidden,
    NotFound,
    RateLimited,
    SinkError,
    Unauthorized,
)
from rotator.sinks.base import Confirmation, KeyPair, Progress, PushContext, Sink, no_progress

if TYPE_CHECKING:  # the sink layer never imports settings at run time
    from rotator.settings import AppPlatformSinkConfig
    from rotator.sinks import SinkDeps

logger = logging.getLogger(__name__)

DEFAULT_SCOPE = "RUN_AND_BUILD_TIME"
_Owned = tuple[dict[str, Any] | None, dict[str, Any] | None]
"""The access-key and secret-key entries as a spec shows them (None: absent)."""
FAILED = ("ERROR", "CANCELED")


@dataclass(frozen=True)
class _Before:
    """What the app looked like just before the PUT."""

    spec: dict[str, Any]
    active_id: str | None


class AppPlatformSink(Sink):
    """Env vars of an App Platform app (app level or one component)."""

    type: ClassVar[str] = "app_platform"

    def __init__(
        self,
        label: str,
        *,
        client: DigitalOceanClient,
        app_id: str,
        component: str | None,
        access_key_env: str,
        secret_key_env: str,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
        deploy_timeout: float,
        poll_interval: float,
    ) -> None:
        super().__init__(label)
        if access_key_env == secret_key_env:
            raise SinkError(label, "access_key_env and secret_key_env must differ")
        self._client = client
        self._app_id = app_id
        self._component = component
        self._access_env = access_key_env
        self._secret_env = secret_key_env
        self._sleep = sleep
        self._monotonic = monotonic
        self._deploy_timeout = deploy_timeout
        self._poll_interval = poll_interval
        self._progress: Progress = no_progress  # the current push's (see push)

    @classmethod
    def from_config(cls, config: AppPlatformSinkConfig, deps: SinkDeps) -> AppPlatformSink:
        """The sink for one ``type = "app_platform"`` entry; uses the policy's connection."""
        if deps.digitalocean is None:
            raise SinkError(config.label, "needs a DigitalOcean client (the policy's connection)")
        return cls(
            config.label,
            client=deps.digitalocean,
            app_id=config.app_id,
            component=config.component,
            access_key_env=config.access_key_env,
            secret_key_env=config.secret_key_env,
            sleep=deps.sleep,
            monotonic=deps.monotonic,
            deploy_timeout=deps.deploy_timeout,
            poll_interval=deps.poll_interval,
        )

    # -- the contract ------------------------------------------------------------

    def check(self) -> None:
        """GET the app and find the env list (``app:read``); ``app:update`` is the audit's job."""
        self._env_holder(self._read_app()["spec"])

    def describe_push(self, access_key: str, context: PushContext) -> list[str]:
        """What a push would change, read from the app as it is now; never shows a secret."""
        app = self._read_app()
        holder = self._env_holder(app["spec"])
        owned = (self._access_env, self._secret_env)
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
        lines.append(
            f"{verb} {self._access_env}={access_key} and {self._secret_env}=<new secret> "
            f"(SECRET) on app {self._where}; keep {others} other "
            f"variable{'' if others == 1 else 's'}; start a deployment and wait until it is ACTIVE"
        )
        return lines

    def push(self, keys: KeyPair, context: PushContext) -> Confirmation:
        """Write the pair, deploy, and return once the deployment serving it is ACTIVE."""
        secret = keys.secret_key.reveal()
        self._progress = context.progress
        app = self._wait_until_idle(self._monotonic() + self._deploy_timeout)
        before = _Before(app["spec"], apps.active_deployment_id(app))
        spec = self._edited(before.spec, keys.access_key, secret)
        logger.info(
            "app %s: setting %s=%s and %s (secret) for policy %s, rotation %s",
            self._where,
            self._access_env,
            keys.access_key,
            self._secret_env,
            context.policy,
            context.rotation_id,
        )
        deadline = self._monotonic() + self._deploy_timeout
        answer, unclear = None, "the answer names no deployment"
        try:
            answer = apps.update_app_spec(self._client, self._app_id, spec)
        except DigitalOceanError as error:
            text = _scrub(str(error), secret)
            if _refused(error):
                # Refused before any work was done: nothing changed, nothing to follow.
                cause = error if text == str(error) else None
                raise SinkError(self.label, _scrub(self._explain(error), secret)) from cause
            unclear = text
        # Outside the except block: a later error must not chain the PUT's error,
        # whose text could echo the request.
        started = apps.in_flight(answer) if answer is not None else None
        self._progress(
            f"{self.label}: PUT app {self._where} spec"
            + (f"; deployment {started['id']} started" if started is not None else "")
        )
        if answer is None or started is None:
            deployment_id = self._after_unclear_answer(unclear, before, deadline)
        else:
            expected = self._owned(answer.get("spec"))
            deployment_id = self._follow(str(started["id"]), before, expected, deadline)
        logger.info(
            "app %s: deployment %s is ACTIVE with access key %s",
            self._where,
            deployment_id,
            keys.access_key,
        )
        return Confirmation(self.label, {"app_id": self._app_id, "deployment_id": deployment_id})

    def holds(self) -> str | None:
        """The access key id the running deployment has, when it is a plain GENERAL value.

        None when the variable is a SECRET (shown only as ``EV[...]``), is
        absent, or the app could not be read for a transient reason.
        """
        try:
            app = apps.get_app(self._client, self._app_id)
        except DigitalOceanError as error:
            if isinstance(error, APIError) and not error.transient:
                raise SinkError(self.label, self._explain(error)) from error
            logger.warning("app %s: cannot tell which key it holds: %s", self._where, error)
            return None
        active = app.get("active_deployment")
        spec = active.get("spec") if isinstance(active, dict) else None
        if not isinstance(spec, dict):
            return None
        owned = self._owned(spec)
        entry = owned[0] if owned is not None else None
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

    def _read_app(self) -> dict[str, Any]:
        """One GET of the app, every failure a SinkError (for check and dry runs)."""
        try:
            app = apps.get_app(self._client, self._app_id)
        except DigitalOceanError as error:
            raise SinkError(self.label, self._explain(error)) from error
        if not isinstance(app.get("spec"), dict):
            raise SinkError(self.label, f"app {self._app_id} came back without a spec")
        return app

    def _poll(self, read: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """One read while waiting: None after a transient failure, so the caller polls on."""
        try:
            return read()
        except DigitalOceanError as error:
            # The client already retried 429, 5xx and timeouts; a definite
            # refusal (401, 403, 404) will not get better by waiting.
            if isinstance(error, APIError) and not error.transient:
                raise SinkError(self.label, self._explain(error)) from error
            logger.warning("app %s: read failed, polling on: %s", self._where, error)
            return None

    def _poll_app(self) -> dict[str, Any] | None:
        app = self._poll(lambda: apps.get_app(self._client, self._app_id))
        if app is not None and not isinstance(app.get("spec"), dict):
            raise SinkError(self.label, f"app {self._app_id} came back without a spec")
        return app

    def _pauses(self) -> Iterator[float]:
        """Poll quickly at first, then back off to ``poll_interval``.

        A short deployment is confirmed within a second; a long one costs a
        read every ``poll_interval`` seconds, well inside the token's budget.
        """
        pause = min(0.25, self._poll_interval)
        while True:
            yield pause
            pause = min(pause * 2, self._poll_interval)

    def _wait_until_idle(self, deadline: float) -> dict[str, Any]:
        """The app once no deployment is pending or in progress (a PUT would supersede it)."""
        pauses = self._pauses()
        shown = ""
        while True:
            app = self._poll_app()
            running = apps.in_flight(app) if app is not None else None
            if app is not None and running is None:
                self._env_holder(app["spec"])  # fail before waiting on a hopeless config
                return app
            if self._monotonic() >= deadline:
                what = (
                    f"deployment {running['id']} is still {running.get('phase', 'running')}"
                    if running is not None
                    else "the app could not be read"
                )
                raise SinkError(
                    self.label,
                    f"{what} after {self._deploy_timeout:g}s; app {self._where} was not "
                    "changed and still uses the previous key",
                )
            if running is not None and f"{running['id']} {running.get('phase')}" != shown:
                shown = f"{running['id']} {running.get('phase')}"
                self._progress(
                    f"{self.label}: waiting for deployment {running['id']} "
                    f"({running.get('phase', '?')}) to finish before updating"
                )
                logger.info(
                    "app %s: waiting for deployment %s (%s) before updating",
                    self._where,
                    running["id"],
                    running.get("phase", "?"),
                )
            self._sleep(next(pauses))

    # -- following the deployment ---------------------------------------------------

    def _follow(
        self,
        deployment_id: str,
        before: _Before,
        expected: _Owned | None,
        deadline: float,
    ) -> str:
        """Poll until a deployment carrying the new pair is ACTIVE; return its id."""
        current, phase = deployment_id, "PENDING"
        shown = ""
        pauses = self._pauses()
        while True:
            read = functools.partial(apps.get_deployment, self._client, self._app_id, current)
            deployment = self._poll(read)
            if deployment is not None:
                phase = str(deployment.get("phase", "UNKNOWN"))
                if f"{current} {phase}" != shown:
                    shown = f"{current} {phase}"
                    self._progress(f"{self.label}: deployment {shown}")
                if phase == "ACTIVE":
                    return current
                if phase in FAILED:
                    raise SinkError(
                        self.label,
                        f"deployment {current} of app {self._where} ended {phase}; "
                        "the running app still uses the previous key",
                    )
                if phase == "SUPERSEDED":
                    successor = self._successor(current, before, expected)
                    if successor is not None:
                        next_id, finished = successor
                        if finished:
                            return next_id
                        logger.info(
                            "app %s: deployment %s was superseded; following %s",
                            self._where,
                            current,
                            next_id,
                        )
                        current, phase = next_id, "PENDING"
            if self._monotonic() >= deadline:
                raise SinkError(
                    self.label,
                    f"deployment {current} of app {self._where} is still {phase} after "
                    f"{self._deploy_timeout:g}s; gave up waiting (it may still finish, so "
                    "the previous key must stay valid)",
                )
            self._sleep(next(pauses))

    def _successor(
        self,
        superseded: str,
        before: _Before,
        expected: _Owned | None,
    ) -> tuple[str, bool] | None:
        """After SUPERSEDED: (deployment to follow, already ACTIVE?), or None to poll again."""
        app = self._poll_app()
        if app is None:
            return None
        if expected is not None and self._owned(app["spec"]) != expected:
            raise SinkError(
                self.label,
                f"deployment {superseded} of app {self._where} was superseded by a change "
                f"that replaced {self._access_env}/{self._secret_env}; not confirmed",
            )
        running = apps.in_flight(app)
        if running is not None:
            return str(running["id"]), False
        active = apps.active_deployment_id(app)
        if active is not None and active not in (before.active_id, superseded):
            # A later deployment of the spec with the new pair already finished.
            return active, True
        raise SinkError(
            self.label,
            f"deployment {superseded} of app {self._where} was superseded and no later "
            "deployment became active; the running app still uses the previous key",
        )

    def _after_unclear_answer(self, why: str, before: _Before, deadline: float) -> str:
        """The PUT may or may not have been applied: read the app and decide, never resend."""
        logger.warning(
            "app %s: the spec update got no clear answer (%s); reading the app back "
            "instead of sending it again",
            self._where,
            why,
        )
        app = None
        while app is None:
            app = self._poll_app()
            if app is None:
                if self._monotonic() >= deadline:
                    raise SinkError(
                        self.label,
                        f"the spec update of app {self._where} got no clear answer ({why}) "
                        "and the app could not be read back; whether it was applied is unknown",
                    )
                self._sleep(self._poll_interval)
        spec = app["spec"]
        if self._without_owned(spec) != self._without_owned(before.spec):
            raise SinkError(
                self.label,
                f"the spec update of app {self._where} got no clear answer ({why}) and "
                "someone else changed the app meanwhile; whether it was applied is unknown",
            )
        if self._owned(spec) == self._owned(before.spec):
            raise SinkError(
                self.label,
                f"the spec update of app {self._where} got no clear answer ({why}) and the "
                f"app shows no change to {self._access_env}/{self._secret_env}, so it is taken "
                "as not applied (or it repeated values the app already had); not sent again "
                "automatically, and the running app may still use the previous key",
            )
        running = apps.in_flight(app)
        if running is not None:
            return self._follow(str(running["id"]), before, self._owned(spec), deadline)
        active = apps.active_deployment_id(app)
        if active is not None and active != before.active_id:
            return active
        raise SinkError(
            self.label,
            f"the spec update of app {self._where} was applied ({why}) but no deployment "
            "of it is running or active; the running app still uses the previous key",
        )

    # -- the spec -------------------------------------------------------------------

    def _env_holder(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The dict whose ``envs`` the sink owns two entries of: the spec or a component."""
        if self._component is None:
            self._refuse_shadowing(spec)
            return spec
        for kind in apps.COMPONENT_KINDS:
            for component in _components(spec, kind):
                if component.get("name") == self._component:
                    return component
        if any(db.get("name") == self._component for db in _components(spec, "databases")):
            raise SinkError(
                self.label,
                f"component {self._component!r} of app {self._app_id} is a database, which "
                "has no env vars; name the service, worker, job, static site or function "
                "that uses the key",
            )
        names = [
            str(c.get("name")) for kind in apps.COMPONENT_KINDS for c in _components(spec, kind)
        ]
        raise SinkError(
            self.label,
            f"app {self._app_id} has no component {self._component!r} "
            f"(its components: {', '.join(names) or 'none'})",
        )

    def _refuse_shadowing(self, spec: dict[str, Any]) -> None:
        """An app-level value a component overrides would never reach that component."""
        for kind in apps.COMPONENT_KINDS:
            for component in _components(spec, kind):
                envs = component.get("envs")
                keys = {e.get("key") for e in envs if isinstance(e, dict)} if envs else set()
                for key in (self._access_env, self._secret_env):
                    if key in keys:
                        raise SinkError(
                            self.label,
                            f"component {component.get('name')!r} of app {self._app_id} sets "
                            f"{key} itself, which overrides the app-level value; configure "
                            f"component = {component.get('name')!r} for this sink",
                        )

    def _env_list(self, spec: dict[str, Any], *, create: bool) -> list[Any] | None:
        holder = self._env_holder(spec)
        envs = holder.get("envs")
        if envs is None and create:
            envs = holder["envs"] = []
        if envs is not None and not isinstance(envs, list):
            raise SinkError(self.label, f"the envs of app {self._where} are not a list")
        return envs

    def _edited(self, spec: dict[str, Any], access_key: str, secret: str) -> dict[str, Any]:
        """A deep copy of ``spec`` with only the two owned entries set (or appended)."""
        edited = copy.deepcopy(spec)
        envs = self._env_list(edited, create=True)
        assert envs is not None  # created above
        for key, value in ((self._access_env, access_key), (self._secret_env, secret)):
            found = [i for i, e in enumerate(envs) if isinstance(e, dict) and e.get("key") == key]
            if len(found) > 1:
                raise SinkError(self.label, f"app {self._where} defines {key} more than once")
            scope = (envs[found[0]].get("scope") if found else None) or DEFAULT_SCOPE
            entry = {"key": key, "value": value, "scope": scope, "type": "SECRET"}
            if found:
                envs[found[0]] = entry
            else:
                envs.append(entry)
        return edited

    def _owned(self, spec: Any) -> _Owned | None:
        """The two owned entries as the spec shows them (None when the spec is unusable)."""
        if not isinstance(spec, dict):
            return None
        try:
            envs = self._env_list(spec, create=False) or []
        except SinkError:
            return None

        def entry(key: str) -> dict[str, Any] | None:
            return next((e for e in envs if isinstance(e, dict) and e.get("key") == key), None)

        return entry(self._access_env), entry(self._secret_env)

    def _without_owned(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec minus the owned entries: what a push must leave exactly as it was."""
        rest = copy.deepcopy(spec)
        holder = self._env_holder(rest)
        envs = holder.get("envs")
        if isinstance(envs, list):
            owned = (self._access_env, self._secret_env)
            kept = [e for e in envs if not (isinstance(e, dict) and e.get("key") in owned)]
            if kept:
                holder["envs"] = kept
            else:  # a list the push created (or emptied) counts as absent
                holder.pop("envs")
        return rest

    def _explain(self, error: DigitalOceanError) -> str:
        """One actionable line for a DigitalOcean failure."""
        if isinstance(error, Forbidden):
            scope = "app:update" if error.method == "PUT" else "app:read"
            return f"the token lacks {scope} ({error})"
        if isinstance(error, NotFound):
            if "/deployments/" in error.path:
                return f"a deployment of app {self._where} is gone ({error})"
            return f"app {self._app_id} not found: check app_id and the token's account ({error})"
        if isinstance(error, Unauthorized):
            return f"DigitalOcean refused the token: it is wrong, expired or revoked ({error})"
        return str(error)


def _components(spec: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    items = spec.get(kind)
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]


def _refused(error: DigitalOceanError) -> bool:
    """Whether DigitalOcean refused a request outright, so it changed nothing.

    A 4xx is a refusal; 429 is one too (DigitalOcean rate-limits before doing
    any work). A 5xx, a lost answer or an unreadable 2xx body may follow a
    change that was made.
    """
    if isinstance(error, RateLimited):
        return True
    return isinstance(error, APIError) and not error.transient


def _scrub(text: str, secret: str) -> str:
    # An error echoing the request body must not carry the secret any further.
    return text.replace(secret, "[secret]") if secret else text
