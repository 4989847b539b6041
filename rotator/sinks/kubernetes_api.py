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
the config's back. So, as for Vault and GitHub, rotator speaks the API itself
through the exchange those sinks share (:mod:`rotator.sinks.http`): one total
deadline per request, answers capped at :data:`MAX_ANSWER`, no redirects,
``trust_env=False`` (no proxy or CA from the environment), TLS always
verified. Only PyYAML (for the kubeconfig) was added.

Every failure leaves as one :class:`~rotator.errors.SinkError` naming the
sink, the API server's ``host:port`` and what was being done (the verb and
resource, so a 403 says exactly which RBAC rule is missing); ``transient``
for no answer, 409, 429 and 5xx. The bearer token never appears in one.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from rotator.errors import ConfigError, SinkError
from rotator.httpguard import BodyTooLarge, describe_size
from rotator.secret import Secret
from rotator.sinks.http import Answer, SinkHTTP, Wording, detail, transient_status
from rotator.sinks.kubernetes_auth import ClusterAccess

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0  # seconds for one request, connect to last byte
MAX_ANSWER = 4 << 20  # bytes; a Secret is at most 1 MiB, a Deployment a few kB
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
FIELD_MANAGER = "rotator"


def section(body: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    """``body[k1][k2]...`` when each step is an object, else ``{}`` (answers are untrusted)."""
    for key in keys:
        value = body.get(key)
        body = value if isinstance(value, Mapping) else {}
    return body


def segment(value: str) -> str:
    """One path segment, URL-quoted (names are already checked against their patterns)."""
    return quote(value, safe="")


class KubernetesAPI(SinkHTTP):
    """One API server as the sink sees it: explicit settings, one deadline, one error map."""

    wording = Wording(
        doing="while trying to {action}",
        waiting="while rotator tried to {action}",
        reaching="to {action}",
        untrusted=" by the configured certificate authority",
    )

    def __init__(
        self,
        label: str,
        access: ClusterAccess,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            label,
            access.server,
            service="the Kubernetes API",
            timeout=timeout,
            max_answer=MAX_ANSWER,
            clock=clock,
            default_port=443,
        )
        self.access = access

    def _verify(self) -> ssl.SSLContext | bool:
        try:
            return self.access.ssl_context()
        except ConfigError as exc:
            raise SinkError(self.label, str(exc)) from exc

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
        reply = self.exchange(
            method, path, action, headers=headers, json_body=body, content_type=content_type
        )
        answer = Answer(reply.status, reply.json())
        if 200 <= answer.status < 300 or answer.status in expect:
            return answer
        raise self.refused(answer, action)

    def redirected(self, response: httpx.Response, action: str) -> str:
        return (
            f"{self.where} redirected {action}; rotator does not "
            "follow redirects (set the server URL to the API server itself)"
        )

    def too_large(self, exc: BodyTooLarge, action: str) -> str:
        return f"{self.where} answered {action} with more than {describe_size(exc.limit)}"

    def refused(self, answer: Answer, action: str) -> SinkError:
        """The :class:`SinkError` for an error answer."""
        where = self.where
        quoted = detail(answer.message, self._token())
        status = answer.status
        if status == 401:
            message = (
                f"{where} rejected rotator's credentials (401) while trying to {action} "
                f"({self.access.source}: token expired or revoked?)"
            )
        elif status == 403:
            message = (
                f"forbidden: {where} does not allow rotator to {action} (403); "
                f"grant it in the Role (see deploy/kubernetes/rbac.yaml){quoted}"
            )
        elif status == 404:
            message = f"{where} found nothing (404) when trying to {action}{quoted}"
        elif status == 409:
            message = (
                f"conflict (409) while trying to {action}: someone changed it meanwhile; "
                f"nothing was written, the next push starts over{quoted}"
            )
        elif status == 422:
            message = f"{where} refused to {action} as invalid (422){quoted}"
        elif status == 429:
            message = f"{where} is throttling rotator (429) while it tries to {action}"
        elif status >= 500:
            message = f"{where} failed ({status}) while rotator tried to {action}{quoted}"
        else:
            message = f"{where} gave an unexpected answer ({status}) to {action}{quoted}"
        return SinkError(self.label, message, transient=transient_status(status, 409))

    def _token(self) -> list[Secret]:
        """The bearer token to scrub from the server's words (none when unreadable)."""
        try:
            token = self.access.bearer()
        except ConfigError:
            return []
        return [token] if token is not None else []

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
