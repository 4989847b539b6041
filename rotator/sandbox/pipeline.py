"""One request through the sandbox, in the order DigitalOcean applies the rules.

faults → authentication (401) → rate limit (429) → route (404/405) →
scope (403) → the handler (body validation 400/422, id lookup 404, work).
Scope comes before anything that reads the body or looks up an id, which
is what lets rotator probe a scope with a write that cannot succeed.

Socket handling lives in :mod:`rotator.sandbox.server`; this module only
turns an :class:`Incoming` request into an :class:`Outcome`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rotator.sandbox import (
    account,
    apps,
    databases,
    functions,
    genai,
    registry,
    resources,
    spaces,
)
from rotator.sandbox.calls import Call, Handler, Problem, Reply, not_found
from rotator.sandbox.faults import Fault, FaultBook
from rotator.sandbox.ratelimit import RateLimiter
from rotator.sandbox.scopes import expand_scopes, find_endpoint
from rotator.sandbox.state import State
from rotator.sandbox.tokens import fingerprint, token_hash

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_sandbox"
HANDLERS: dict[str, Handler] = {
    **account.HANDLERS,
    **spaces.HANDLERS,
    **apps.HANDLERS,
    **functions.HANDLERS,
    **genai.HANDLERS,
    **registry.HANDLERS,
    **databases.HANDLERS,
}
AdminHandler = Callable[[str, str, dict[str, list[str]], bytes], Reply]


@dataclass(frozen=True)
class Incoming:
    """A request as read off the socket."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What to do with the connection: send ``reply`` (None: drop it), then maybe kill."""

    reply: Reply | None
    kill: tuple[int, int] | None = None


def error_reply(problem: Problem, request_id: str) -> Reply:
    """DigitalOcean's error body for a Problem."""
    body = {"id": problem.error_id, "message": problem.message, "request_id": request_id}
    return Reply(problem.status, body, dict(problem.headers))


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token from ``Authorization: Bearer <token>``, if well formed."""
    value = headers.get("Authorization") or headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


class RequestLog:
    """Every API request the sandbox answered, without tokens, bodies or secrets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> None:
        """Append one entry."""
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """A copy of the log, oldest first."""
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


class Pipeline:
    """Turns requests into outcomes against one state."""

    def __init__(
        self,
        state: State,
        limiter: RateLimiter,
        faults: FaultBook,
        admin: AdminHandler,
    ) -> None:
        self.state = state
        self.limiter = limiter
        self.faults = faults
        self.admin = admin
        self.log = RequestLog()
        self.base_url = ""
        # Set when the sandbox stops, so an injected delay does not hold up shutdown.
        self.stopping = threading.Event()

    def handle(self, incoming: Incoming) -> Outcome:
        """Answer one request (faults, then the API or the admin surface)."""
        parts = urlsplit(incoming.target)
        path = parts.path or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return Outcome(self._admin(incoming.method, path, query, incoming.body))

        request_id = str(uuid.uuid4())
        token = bearer_token(incoming.headers)
        sha = token_hash(token) if token else None
        fault = self.faults.take(incoming.method, path, sha)
        reply: Reply | None
        if fault is not None and not fault.after:
            self.stopping.wait(fault.delay)
            if fault.answers:
                reply = self._fault_reply(fault, request_id)
                self._log(incoming.method, path, parts.query, reply, request_id, sha, fault)
                return Outcome(_stamp(reply, request_id), self._kill(fault))
        reply = self._process(incoming, path, query, request_id, sha)
        if fault is not None and fault.after:
            self.stopping.wait(fault.delay)
            if fault.answers:
                reply = self._fault_reply(fault, request_id)
        self._log(incoming.method, path, parts.query, reply, request_id, sha, fault)
        return Outcome(_stamp(reply, request_id), self._kill(fault) if fault else None)

    # -- the API ---------------------------------------------------------------

    def _process(
        self,
        incoming: Incoming,
        path: str,
        query: dict[str, list[str]],
        request_id: str,
        sha: str | None,
    ) -> Reply:
        rate_headers: dict[str, str] = {}
        try:
            # Hosts beside the API, on the same address, each with its own authentication:
            if path in registry.HOST_PATHS:  # the container registry
                return registry.registry_host(
                    self.state, incoming.method, path, incoming.headers, self.base_url
                )
            if path.startswith("/api/v1/"):  # a Functions namespace's API host (OpenWhisk)
                return functions.api_host(self.state, incoming.method, path, incoming.headers)
            if not path.startswith(("/v1/", "/v2/")):
                raise not_found()
            record = self.state.find_token(sha) if sha else None
            if record is None or sha is None:
                raise Problem(401)  # missing, malformed, unknown, revoked or expired alike
            verdict = self.limiter.check(sha)
            rate_headers = dict(verdict.headers)
            if not verdict.allowed:
                raise Problem(429)
            endpoint, params, allowed = find_endpoint(incoming.method, path.rstrip("/") or "/")
            if endpoint is None:
                if allowed:
                    raise Problem(405, headers={"allow": ", ".join(allowed)})
                raise not_found()
            if endpoint.scopes and not set(endpoint.scopes) & expand_scopes(record.scopes):
                raise Problem(403)
            call = Call(
                method=incoming.method,
                path=path,
                query=query,
                body=incoming.body,
                request_id=request_id,
                base_url=self.base_url,
                state=self.state,
                params=params,
                token=record,
            )
            handler = HANDLERS.get(endpoint.operation)
            reply = handler(call) if handler else resources.serve(call, endpoint)
        except Problem as problem:
            reply = error_reply(problem, request_id)
        except Exception:
            log.exception("sandbox handler failed for %s %s", incoming.method, path)
            reply = error_reply(Problem(500), request_id)
        reply.headers.update(rate_headers)
        return reply

    # -- faults, admin, log ------------------------------------------------------

    def _fault_reply(self, fault: Fault, request_id: str) -> Reply | None:
        if fault.drop:
            return None
        status = int(fault.status or 500)
        if fault.body is None:
            body: Any = error_reply(Problem(status), request_id).body
        else:
            body = fault.body
        headers = {k.lower(): str(v) for k, v in fault.headers.items()}
        if fault.retry_after is not None:
            headers["retry-after"] = str(int(fault.retry_after))
        return Reply(status, body, headers)

    @staticmethod
    def _kill(fault: Fault) -> tuple[int, int] | None:
        return (fault.kill_pid, fault.kill_signal) if fault.kill_pid else None

    def _admin(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        request_id = str(uuid.uuid4())
        try:
            reply = self.admin(method, path, query, body)
        except Problem as problem:
            reply = error_reply(problem, request_id)
        except (KeyError, ValueError, TypeError) as exc:
            status = 404 if isinstance(exc, KeyError) else 422
            reply = error_reply(Problem(status, str(exc).strip("'\"")), request_id)
        reply.headers.setdefault("x-request-id", request_id)
        return reply

    def _log(
        self,
        method: str,
        path: str,
        raw_query: str,
        reply: Reply | None,
        request_id: str,
        sha: str | None,
        fault: Fault | None,
    ) -> None:
        self.log.add(
            {
                "time": datetime.fromtimestamp(self.state.clock(), UTC).isoformat(
                    timespec="milliseconds"
                ),
                "method": method,
                "path": path,
                "query": raw_query,
                "status": reply.status if reply is not None else None,
                "request_id": request_id,
                "token": fingerprint(sha) if sha else None,
                "fault": fault is not None,
            }
        )


def _stamp(reply: Reply | None, request_id: str) -> Reply | None:
    """Every answer names its request, as DigitalOcean's ``x-request-id`` does."""
    if reply is not None:
        reply.headers.setdefault("x-request-id", request_id)
    return reply
