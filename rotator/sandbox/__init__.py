"""A local, stateful DigitalOcean API for rotator's demo and tests.

A real HTTP server on loopback, faithful to the official OpenAPI spec in
statuses, bodies, headers, scopes, rate limits, pagination, encrypted app
secrets and deployments, with fault injection. Both the API base and the
OAuth base (token info) point at :attr:`Sandbox.url`::

    with Sandbox(deployment_step_seconds=0.05) as sandbox:
        token = sandbox.add_token(["account:read", "spaces_key:read"])
        httpx.get(f"{sandbox.url}/v2/account", headers={"Authorization": f"Bearer {token}"})

Modules: :mod:`.server` (HTTP plumbing), :mod:`.pipeline` (the order of
checks), :mod:`.scopes` (endpoint → scope table), :mod:`.state` (the
model and its file), :mod:`.spaces`, :mod:`.apps`, :mod:`.resources`,
:mod:`.faults`, :mod:`.ratelimit`, :mod:`.admin` (``/_sandbox/...``), and the
credential kinds beyond Spaces keys: :mod:`.functions`, :mod:`.genai`, :mod:`.registry`,
:mod:`.databases` (a real PostgreSQL behind the managed databases), :mod:`.kinds`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from rotator.sandbox import admin, apps, appspec, spaces
from rotator.sandbox.calls import Problem
from rotator.sandbox.faults import FaultBook, make_fault
from rotator.sandbox.kinds import KindHelpers
from rotator.sandbox.pipeline import Pipeline
from rotator.sandbox.ratelimit import RateLimiter
from rotator.sandbox.scopes import unknown_scopes
from rotator.sandbox.seed import seed_demo
from rotator.sandbox.server import SandboxHTTPServer, loopback_address
from rotator.sandbox.state import App, State, Tenant
from rotator.sandbox.tokens import PREFIXES, TokenRecord, mint_token, token_hash

__all__ = ["Sandbox"]

ACCOUNT_STATUSES = ("active", "warning", "locked")


@contextlib.contextmanager
def _input_errors() -> Iterator[None]:
    """In-process helpers report what the API would refuse as a plain ValueError."""
    try:
        yield
    except Problem as problem:
        raise ValueError(problem.message) from problem


class Sandbox(KindHelpers):
    """A local DigitalOcean API server with helpers to arrange and inspect its world."""

    def __init__(
        self,
        state_file: Path | None = None,
        *,
        rate_per_minute: int = 250,
        rate_per_hour: int = 5000,
        deployment_step_seconds: float = 0.2,
        seed: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._clock = clock or time.time
        self.state = State(state_file, self._clock, deployment_step_seconds)
        if state_file is not None and state_file.exists():
            try:
                self.state.load(json.loads(state_file.read_text(encoding="utf-8")))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{state_file} is not a sandbox state file ({exc!r})") from exc
        else:
            tenant = self.state.new_account()
            if seed:
                seed_demo(self.state, tenant)
            self.state.save()
        self.faults = FaultBook()
        self.limiter = RateLimiter(rate_per_minute, rate_per_hour, self._clock)
        self.pipeline = Pipeline(
            self.state, self.limiter, self.faults, functools.partial(admin.handle, self)
        )
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url = ""

    # -- lifecycle ------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        """Listen on a loopback address (port 0: a free port) in a background thread."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        address, family = loopback_address(host)
        server = SandboxHTTPServer((address, port), family, self.pipeline)
        bound_port = server.server_address[1]
        shown = f"[{address}]" if ":" in address else address
        self._url = f"http://{shown}:{bound_port}"
        self.pipeline.base_url = self._url
        self.pipeline.stopping.clear()
        self._server = server
        # stop() waits up to one poll interval; short keeps test teardowns quick.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="rotator-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and wait for the threads."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.pipeline.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None
        self.stop_databases()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:PORT`` (API and OAuth base alike)."""
        if not self._url:
            raise RuntimeError("the sandbox is not started")
        return self._url

    def __enter__(self) -> Sandbox:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # -- tokens and accounts -------------------------------------------------------

    def add_token(
        self,
        scopes: list[str],
        *,
        kind: str = "personal",
        account: str | None = None,
        expires_in_seconds: int | None = None,
        name: str | None = None,
    ) -> str:
        """Mint a token with exactly these scopes (aliases allowed) and return it.

        ``account`` is an account uuid (created if new; default account if None).
        Only the token's SHA-256 is kept.
        """
        if kind not in PREFIXES:
            raise ValueError(f"kind must be one of {', '.join(PREFIXES)}")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValueError("scopes must be a list of strings")
        unknown = unknown_scopes(scopes)
        if unknown:
            raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
        if expires_in_seconds is not None and int(expires_in_seconds) < 0:
            raise ValueError("expires_in_seconds must not be negative")
        token = mint_token(kind)
        with self.state.changing():
            owner = account or self.state.default_account
            if owner not in self.state.tenants:
                self.state.new_account(owner)
            now = self._clock()
            self.state.tokens[token_hash(token)] = TokenRecord(
                sha256=token_hash(token),
                kind=kind,
                scopes=list(scopes),
                account=owner,
                name=name or f"token-{len(self.state.tokens) + 1}",
                created_at=now,
                expires_at=None if expires_in_seconds is None else now + int(expires_in_seconds),
                application_uid=secrets.token_hex(32) if kind == "oauth" else None,
            )
        return token

    def revoke_token(self, token: str) -> None:
        """Revoke a token: from now on it answers 401."""
        with self.state.changing():
            record = self.state.tokens.get(token_hash(token))
            if record is None:
                raise KeyError("no such token")
            record.revoked = True

    def set_account_status(
        self, status: str, message: str = "", *, account: str | None = None
    ) -> None:
        """Set the account's status (active, warning, locked) and its message."""
        if status not in ACCOUNT_STATUSES:
            raise ValueError(f"status must be one of {', '.join(ACCOUNT_STATUSES)}")
        with self.state.changing():
            target = self.state.tenant(account).account
            target.status, target.status_message = status, message

    def account_info(self, *, account: str | None = None) -> dict[str, Any]:
        """The account record (default account if None)."""
        with self.state.lock:
            return asdict(self.state.tenant(account).account)

    @property
    def default_account(self) -> str:
        """The uuid of the account tokens belong to unless told otherwise."""
        return self.state.default_account

    # -- faults and the request log --------------------------------------------------

    def add_fault(
        self,
        method: str | None = None,
        path: str | None = None,
        token: str | None = None,
        times: int | None = 1,
        status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        drop: bool = False,
        kill_pid: int | None = None,
        kill_signal: int = signal.SIGKILL,
        after: bool = False,
    ) -> None:
        """Arm a fault (see :mod:`rotator.sandbox.faults` for what each option does)."""
        self.faults.add(
            make_fault(
                token,
                method=method,
                path=path,
                times=times,
                status=status,
                body=body,
                headers=dict(headers or {}),
                retry_after=retry_after,
                delay=float(delay),
                drop=bool(drop),
                kill_pid=kill_pid,
                kill_signal=int(kill_signal),
                after=bool(after),
            )
        )

    def set_rate_limits(self, per_minute: int | None = None, per_hour: int | None = None) -> None:
        """Change the per-token limits from now on (None keeps one); e.g. 60/min and 200/h."""
        self.limiter.configure(per_minute, per_hour)

    def spend_rate_budget(self, token: str, calls: int, *, seconds_ago: float = 0.0) -> None:
        """Count *calls* requests of *token* as made *seconds_ago* (its hour resets an hour later).

        ``spend_rate_budget(token, 185, seconds_ago=600)`` with 200/h leaves 15
        calls with the reset 50 minutes away.
        """
        if seconds_ago < 0:
            raise ValueError("seconds_ago must not be negative")
        self.limiter.spend(token_hash(token), calls, self._clock() - seconds_ago)

    def rate_usage(self, token: str) -> dict[str, int]:
        """Requests of *token* the limiter counts now: ``{"minute": n, "hour": n}``."""
        minute, hour = self.limiter.used(token_hash(token))
        return {"minute": minute, "hour": hour}

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self.faults.clear()

    def requests(self) -> list[dict[str, Any]]:
        """The request log: time, method, path, query, status, request_id, token fingerprint."""
        return self.pipeline.log.entries()

    def reset_request_log(self) -> None:
        """Empty the request log."""
        self.pipeline.log.clear()

    # -- Spaces keys and apps --------------------------------------------------------

    def spaces_keys(self, *, account: str | None = None) -> list[dict[str, Any]]:
        """Every Spaces key of the account, secrets included (the server's truth)."""
        with self.state.lock:
            return [asdict(k) for k in self.state.tenant(account).spaces_keys.values()]

    def add_spaces_key(
        self, name: str, grants: list[dict[str, str]], *, account: str | None = None
    ) -> dict[str, Any]:
        """Create a Spaces key directly; returns it with ``secret_key``.

        Raises ValueError for what the API would refuse (bad grants, 200 keys).
        """
        tenant = self.state.tenant(account)
        with _input_errors():
            key = spaces.create_key(
                self.state, tenant, spaces.validate_name(name), spaces.validate_grants(grants)
            )
        return asdict(key)

    def add_app(self, spec: dict[str, Any], *, account: str | None = None) -> str:
        """Create an app whose first deployment is already ACTIVE; returns its id.

        Raises ValueError for a spec the API would refuse.
        """
        with _input_errors():
            return apps.new_app(self.state, self.state.tenant(account), spec, deployed=True).id

    def app_ids(self, *, account: str | None = None) -> list[str]:
        """The ids of the account's apps, oldest first."""
        with self.state.lock:
            return list(self.state.tenant(account).apps)

    def _find_app(self, app_id: str) -> tuple[Tenant, App]:
        for tenant in self.state.tenants.values():
            if app_id in tenant.apps:
                return tenant, tenant.apps[app_id]
        raise KeyError(f"no app {app_id!r}")

    def app(self, app_id: str) -> dict[str, Any]:
        """The app's truth: spec with plaintext secrets, deployments with phases."""
        with self.state.lock:
            _, found = self._find_app(app_id)
            now = self._clock()
            found.settle(now)
            truth = found.to_json()
            for deployment, record in zip(found.deployments, truth["deployments"], strict=True):
                record["phase"] = deployment.phase(now)
            return truth

    def app_running_env(self, app_id: str, component: str | None = None) -> dict[str, str]:
        """The plaintext env of the ACTIVE deployment, as the running app sees it.

        App-level variables, overridden by the component's own when ``component``
        is given; build-time-only variables are left out.
        """
        with self.state.lock:
            _, found = self._find_app(app_id)
            found.settle(self._clock())
            active = found.deployment(found.active_deployment_id)
            if active is None:
                return {}
            return appspec.running_env(copy.deepcopy(active.spec), component)

    def fail_next_deployment(self, app_id: str, phase: str = "ERROR") -> None:
        """Make the app's next deployment end in ERROR or CANCELED instead of ACTIVE."""
        if phase not in apps.FAILURE_PHASES:
            raise ValueError(f"phase must be one of {', '.join(apps.FAILURE_PHASES)}")
        with self.state.changing():
            self._find_app(app_id)[1].fail_next = phase

    # -- the whole world ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON (no request log, no seal key): compare before/after."""
        return self.state.to_json(include_key=False)

    def count_resources(self) -> dict[str, int]:
        """How many of each thing exist, over all accounts."""
        with self.state.lock:
            counts: dict[str, int] = {
                "accounts": len(self.state.tenants),
                "tokens": len(self.state.tokens),
                "spaces_keys": 0,
                "apps": 0,
                "deployments": 0,
            }
            for tenant in self.state.tenants.values():
                counts["spaces_keys"] += len(tenant.spaces_keys)
                counts["apps"] += len(tenant.apps)
                counts["deployments"] += sum(len(a.deployments) for a in tenant.apps.values())
                for family, items in tenant.resources.items():
                    counts[family] = counts.get(family, 0) + len(items)
            return counts
