"""The few Kubernetes API calls the kubernetes sink makes, spoken directly with httpx.

Design decision: **no Kubernetes client library.** The issue suggested the
official ``kubernetes`` client or ``lightkube``/``kr8s``; each was weighed
against what the sink needs (seven endpoints: get/create/patch a Secret,
get/patch a Deployment or StatefulSet, one SelfSubjectAccessReview):

- ``kubernetes`` (37.x) pulls 27 wheels, 16 MB, among them a second and a
  third HTTP stack (``urllib3``/``requests`` and ``aiohttp``), bounds only
  single socket operations, and its config loaders read ``KUBECONFIG`` and
  run ``exec`` plugins;
- ``lightkube`` (1.x) rides on ``httpx2``/``httpcore2``, a fork of the HTTP
  stack rotator already has, so rotator's deadline backend cannot plug in;
- ``kr8s`` is async-first (sync calls run an event loop in a thread), pulls
  ``python-box``, ``httpx-ws`` and ``cachetools``, and also reads
  ``KUBECONFIG`` and runs exec plugins.

None lets rotator enforce its own total deadline and body cap per request
(:mod:`rotator.httpguard`) or promise it never reads the environment behind
the config's back. So, as for Vault, rotator speaks the API itself on httpx:
one total deadline per request, answers capped at :data:`MAX_ANSWER`, no
redirects, ``trust_env=False`` (no proxy or CA from the environment), TLS
always verified. Only PyYAML (for the kubeconfig) was added.

Every failure leaves as one :class:`~rotator.errors.SinkError` naming the
sink, the API server's ``host:port`` and what was being done (the verb and
resource, so a 403 says exactly which RBAC rule is missing); ``transient``
for no answer, 409, 429 and 5xx. The bearer token never appears in one.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from rotator import httpguard
from rotator.errors import ConfigError, SinkError
from rotator.sinks.kubernetes_auth import ClusterAccess

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0  # seconds for one request, connect to last byte
MAX_ANSWER = 4 << 20  # bytes; a Secret is at most 1 MiB, a Deployment a few kB
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
FIELD_MANAGER = "rotator"


@dataclass(frozen=True)
class Answer:
    """The API server's answer: status and JSON body (``{}`` when empty or not JSON)."""

    status: int
    body: Mapping[str, Any]

    @property
    def message(self) -> str:
        """A ``Status`` object's message, on one line (empty when none)."""
        text = self.body.get("message")
        return " ".join(str(text).split())[:300] if text else ""


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or url
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port or 443}"


def segment(value: str) -> str:
    """One path segment, URL-quoted (names are already checked against their patterns)."""
    return quote(value, safe="")


def _tls_failure(exc: BaseException) -> bool:
    visited: set[int] = set()
    seen: BaseException | None = exc
    # httpguard re-raises an error from itself, which loops the chain and hides
    # the ssl error; httpx keeps OpenSSL's "[SSL: ...]" text in its message.
    while seen is not None and id(seen) not in visited:
        if isinstance(seen, ssl.SSLError) or (
            isinstance(seen, httpx.ConnectError) and "[SSL" in str(seen)
        ):
            return True
        visited.add(id(seen))
        seen = seen.__cause__ or seen.__context__
    return False


class KubernetesAPI:
    """One API server as the sink sees it: explicit settings, one deadline, one error map."""

    def __init__(
        self,
        label: str,
        access: ClusterAccess,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.access = access
        self.address = _host_port(access.server)
        self.timeout = timeout
        self._clock = clock
        self._http: httpx.Client | None = None

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _client(self) -> httpx.Client:
        if self._http is None:
            try:
                context = self.access.ssl_context()
            except ConfigError as exc:
                raise SinkError(self.label, str(exc)) from exc
            self._http = httpx.Client(
                base_url=self.access.server,
                transport=httpguard.GuardedTransport(verify=context),
                timeout=self.timeout,
                follow_redirects=False,
                trust_env=False,
            )
        return self._http

    def call(
        self,
        method: str,
        path: str,
        action: str,
        *,
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        expect: Collection[int] = (),
    ) -> Answer:
        """One request; a 2xx answer or one whose status is in ``expect`` is returned.

        ``action`` says what is being done in RBAC words (``patch secrets/app
        in namespace media``) for the error message.
        """
        headers = {"Accept": "application/json", "User-Agent": "rotator"}
        try:
            token = self.access.bearer()
        except ConfigError as exc:
            raise SinkError(self.label, str(exc)) from exc
        if token is not None:
            headers["Authorization"] = f"Bearer {token.reveal()}"
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        http = self._client()
        request = http.build_request(method, path, content=content, headers=headers)
        try:
            response = httpguard.fetch(
                http,
                request,
                deadline=httpguard.Deadline(self.timeout, clock=self._clock),
                max_body=MAX_ANSWER,
            )
        except httpx.HTTPError as exc:
            raise SinkError(
                self.label,
                self._describe_transport(exc, action),
                transient=not _tls_failure(exc) and not isinstance(exc, httpguard.BodyTooLarge),
            ) from exc
        status = response.status_code
        if 300 <= status < 400:
            raise SinkError(
                self.label,
                f"the Kubernetes API at {self.address} redirected {action}; rotator does not "
                "follow redirects (set the server URL to the API server itself)",
            )
        try:
            parsed = json.loads(response.content) if response.content.strip() else {}
        except ValueError:
            parsed = {}
        answer = Answer(status, parsed if isinstance(parsed, Mapping) else {})
        if 200 <= status < 300 or status in expect:
            return answer
        raise self.refused(answer, action)

    def refused(self, answer: Answer, action: str) -> SinkError:
        """The :class:`SinkError` for an error answer."""
        where = f"the Kubernetes API at {self.address}"
        says = answer.message
        token = self._token_text()
        if token:
            says = says.replace(token, "[redacted]")
        detail = f": {says}" if says else ""
        status = answer.status
        if status == 401:
            message = (
                f"{where} rejected rotator's credentials (401) while trying to {action} "
                f"({self.access.source}: token expired or revoked?)"
            )
        elif status == 403:
            message = (
                f"forbidden: {where} does not allow rotator to {action} (403); "
                f"grant it in the Role (see deploy/kubernetes/rbac.yaml){detail}"
            )
        elif status == 404:
            message = f"{where} found nothing (404) when trying to {action}{detail}"
        elif status == 409:
            message = (
                f"conflict (409) while trying to {action}: someone changed it meanwhile; "
                f"nothing was written, the next push starts over{detail}"
            )
        elif status == 422:
            message = f"{where} refused to {action} as invalid (422){detail}"
        elif status == 429:
            message = f"{where} is throttling rotator (429) while it tries to {action}"
        elif status >= 500:
            message = f"{where} failed ({status}) while rotator tried to {action}{detail}"
        else:
            message = f"{where} gave an unexpected answer ({status}) to {action}{detail}"
        return SinkError(self.label, message, transient=status in (409, 429) or status >= 500)

    def _token_text(self) -> str:
        try:
            token = self.access.bearer()
        except ConfigError:
            return ""
        return token.reveal() if token is not None else ""

    def _describe_transport(self, exc: httpx.HTTPError, action: str) -> str:
        where = f"the Kubernetes API at {self.address}"
        if _tls_failure(exc):
            return (
                f"TLS with {where} failed while trying to {action}: its certificate is not "
                "trusted by the configured certificate authority"
            )
        if isinstance(exc, httpguard.BodyTooLarge):
            return f"{where} answered {action} with more than {httpguard.describe_size(exc.limit)}"
        if isinstance(exc, httpx.TimeoutException):
            return (
                f"{where} did not answer within {self.timeout:g}s while rotator tried to {action}"
            )
        if isinstance(exc, httpx.ConnectError):
            return (
                f"cannot reach {where} to {action} "
                "(connection refused, host unknown or network down)"
            )
        return f"request to {where} failed while trying to {action} ({type(exc).__name__})"

    # ------------------------------------------------------------- resources

    def get(self, path: str, action: str) -> Mapping[str, Any] | None:
        """``GET`` an object; None when it does not exist (404)."""
        answer = self.call("GET", path, action, expect=(404,))
        return None if answer.status == 404 else answer.body

    def create(self, path: str, body: Mapping[str, Any], action: str) -> Mapping[str, Any]:
        """``POST`` a new object (as field manager ``rotator``)."""
        return self.call("POST", f"{path}?fieldManager={FIELD_MANAGER}", action, body=body).body

    def patch(
        self, path: str, body: Mapping[str, Any], action: str, *, kind: str = MERGE_PATCH
    ) -> Mapping[str, Any]:
        """``PATCH`` an object (as field manager ``rotator``)."""
        return self.call(
            "PATCH", f"{path}?fieldManager={FIELD_MANAGER}", action, body=body, content_type=kind
        ).body

    def allowed(
        self, namespace: str, verb: str, resource: str, *, group: str = "", name: str = ""
    ) -> bool:
        """Whether rotator may do ``verb`` on ``resource``.

        ``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` (every
        authenticated identity may ask this about itself).
        """
        attributes: dict[str, str] = {
            "namespace": namespace,
            "verb": verb,
            "group": group,
            "resource": resource,
        }
        if name:
            attributes["name"] = name
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        what = f"{resource}/{name}" if name else resource
        answer = self.call(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            f"review its own access ({verb} {what})",
            body=review,
        )
        status = answer.body.get("status")
        return isinstance(status, Mapping) and status.get("allowed") is True
