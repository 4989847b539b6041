"""The App Platform sink's calls: read the app, wait for it, follow its deployments.

Every wait is bounded by the sink's ``deploy_timeout`` and polls quickly at
first, then every ``poll_interval``. A definite refusal (401, 403, 404) ends a
wait at once; a transient failure (the client already retried it) is polled
through. :mod:`rotator.sinks.app_platform` decides what to push and when;
:mod:`rotator.sinks.app_platform_spec` edits the spec.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rotator.digitalocean import apps
from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import APIError, DigitalOceanError, Forbidden, NotFound, SinkError, Unauthorized
from rotator.sinks.app_platform_spec import EnvTarget, Owned
from rotator.sinks.base import Progress, no_progress

logger = logging.getLogger("rotator.sinks.app_platform")

FAILED = ("ERROR", "CANCELED")


@dataclass(frozen=True)
class Before:
    """What the app looked like just before the PUT."""

    spec: dict[str, Any]
    active_id: str | None


class AppDeployer:
    """One app as the sink reads it and deploys it, every wait bounded."""

    def __init__(
        self,
        target: EnvTarget,
        client: DigitalOceanClient,
        *,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
        deploy_timeout: float,
        poll_interval: float,
    ) -> None:
        self.label = target.label
        self._spec = target
        self._client = client
        self._app_id = target.app_id
        self._where = target.where
        self._owned_names = target.shown
        self._sleep = sleep
        self._monotonic = monotonic
        self._deploy_timeout = deploy_timeout
        self._poll_interval = poll_interval
        self.progress: Progress = no_progress  # the current push's (see AppPlatformSink.push)

    def read_app(self) -> dict[str, Any]:
        """One GET of the app, every failure a SinkError (for check and dry runs)."""
        try:
            app = apps.get_app(self._client, self._app_id)
        except DigitalOceanError as error:
            raise self.translated(error) from error
        if not isinstance(app.get("spec"), dict):
            raise SinkError(self.label, f"app {self._app_id} came back without a spec")
        return app

    def poll(self, read: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """One read while waiting: None after a transient failure, so the caller polls on."""
        try:
            return read()
        except DigitalOceanError as error:
            # The client already retried 429, 5xx and timeouts; a definite
            # refusal (401, 403, 404) will not get better by waiting.
            if isinstance(error, APIError) and not error.transient:
                raise self.translated(error) from error
            logger.warning("app %s: read failed, polling on: %s", self._where, error)
            return None

    def _poll_app(self) -> dict[str, Any] | None:
        app = self.poll(lambda: apps.get_app(self._client, self._app_id))
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

    def look(self) -> dict[str, Any] | None:
        """One read of the app; None after a transient failure (look again later)."""
        return self._poll_app()

    def wait_until_idle(self, deadline: float) -> dict[str, Any]:
        """The app once no deployment is pending or in progress (a PUT would supersede it)."""
        pauses = self._pauses()
        shown = ""
        while True:
            app = self._poll_app()
            running = apps.in_flight(app) if app is not None else None
            if app is not None and running is None:
                self._spec.env_holder(app["spec"])  # fail before waiting on a hopeless config
                return app
            if self._monotonic() >= deadline:
                phase = str(running.get("phase", "running")) if running is not None else ""
                raise self.still_busy(running, phase)
            if running is not None and f"{running['id']} {running.get('phase')}" != shown:
                shown = f"{running['id']} {running.get('phase')}"
                self.progress(
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

    def follow(
        self,
        deployment_id: str,
        before: Before,
        expected: Owned | None,
        deadline: float,
    ) -> str:
        """Poll until a deployment carrying the new pair is ACTIVE; return its id."""
        current, phase = deployment_id, "PENDING"
        shown = ""
        pauses = self._pauses()
        while True:
            read = functools.partial(apps.get_deployment, self._client, self._app_id, current)
            deployment = self.poll(read)
            if deployment is not None:
                phase = str(deployment.get("phase", "UNKNOWN"))
                if f"{current} {phase}" != shown:
                    shown = f"{current} {phase}"
                    self.progress(f"{self.label}: deployment {shown}")
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
                    transient=True,  # it may pass: the next push tries again
                )
            self._sleep(next(pauses))

    def step(
        self, deployment_id: str, before: Before, expected: Owned | None
    ) -> tuple[str, str | None]:
        """One look at a deployment being followed: ``(id to follow, phase)``.

        The phase is None when it could not be read now (poll again later);
        ``ACTIVE`` means confirmed. A deployment that was superseded hands over
        to its successor (the id changes). Raises SinkError for ERROR or
        CANCELED, or a supersession by someone else's change.
        """
        read = functools.partial(apps.get_deployment, self._client, self._app_id, deployment_id)
        deployment = self.poll(read)
        if deployment is None:
            return deployment_id, None
        phase = str(deployment.get("phase", "UNKNOWN"))
        if phase in FAILED:
            raise SinkError(
                self.label,
                f"deployment {deployment_id} of app {self._where} ended {phase}; "
                "the running app still uses the previous key",
            )
        if phase == "SUPERSEDED":
            successor = self._successor(deployment_id, before, expected)
            if successor is None:
                return deployment_id, None
            next_id, finished = successor
            return next_id, "ACTIVE" if finished else "PENDING"
        return deployment_id, phase

    def _successor(
        self,
        superseded: str,
        before: Before,
        expected: Owned | None,
    ) -> tuple[str, bool] | None:
        """After SUPERSEDED: (deployment to follow, already ACTIVE?), or None to poll again."""
        app = self._poll_app()
        if app is None:
            return None
        if expected is not None and self._spec.owned(app["spec"]) != expected:
            raise SinkError(
                self.label,
                f"deployment {superseded} of app {self._where} was superseded by a change "
                f"that replaced {self._owned_names}; not confirmed",
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

    def after_unclear_answer(self, why: str, before: Before, deadline: float) -> str:
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
                        transient=True,  # it may pass: the next push tries again
                    )
                self._sleep(self._poll_interval)
        spec = app["spec"]
        if self._spec.without_owned(spec) != self._spec.without_owned(before.spec):
            raise SinkError(
                self.label,
                f"the spec update of app {self._where} got no clear answer ({why}) and "
                "someone else changed the app meanwhile; whether it was applied is unknown",
            )
        if self._spec.owned(spec) == self._spec.owned(before.spec):
            raise SinkError(
                self.label,
                f"the spec update of app {self._where} got no clear answer ({why}) and the "
                f"app shows no change to {self._owned_names}, so it is taken "
                "as not applied (or it repeated values the app already had); not sent again "
                "automatically, and the running app may still use the previous key",
            )
        running = apps.in_flight(app)
        if running is not None:
            return self.follow(str(running["id"]), before, self._spec.owned(spec), deadline)
        active = apps.active_deployment_id(app)
        if active is not None and active != before.active_id:
            return active
        raise SinkError(
            self.label,
            f"the spec update of app {self._where} was applied ({why}) but no deployment "
            "of it is running or active; the running app still uses the previous key",
        )

    def still_busy(self, running: dict[str, Any] | None, phase: str) -> SinkError:
        """The error of a push given up before its PUT: a deployment outlasted deploy_timeout."""
        what = (
            f"deployment {running['id']} is still {phase}"
            if running is not None
            else "the app could not be read"
        )
        return SinkError(
            self.label,
            f"{what} after {self._deploy_timeout:g}s; app {self._where} was not "
            "changed and still uses the previous key",
            transient=True,  # it may pass: the next push tries again
        )

    def translated(self, error: DigitalOceanError) -> SinkError:
        """The SinkError for a DigitalOcean failure: transient when the failure was."""
        return SinkError(self.label, self.explain(error), transient=error.transient)

    def explain(self, error: DigitalOceanError) -> str:
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
