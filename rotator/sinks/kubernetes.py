"""Kubernetes sink (DOKS and any cluster): the credential's fields as keys of a Secret.

A push reads the Secret, refuses one another manager owns, creates it when
absent or else patches **only the keys it owns** (a JSON merge patch carrying
the ``resourceVersion`` read, so a concurrent change is a 409 conflict, not
a lost write), marks ownership in annotations, then restarts the named
Deployments/StatefulSets as ``kubectl rollout restart`` does and waits until
every rollout completed (bounded by ``rollout_timeout``). Only then is the
push confirmed; a rollout that does not complete leaves the old key valid.
Pushing what the Secret already holds writes nothing, so a resumed rotation
only waits for the rollouts again.

The config table is :mod:`.kubernetes_config`; ownership marks, who else
may own a Secret, and the bodies written are in :mod:`.kubernetes_secret`;
restarts and rollout waits in :mod:`.kubernetes_rollout`; the API calls in
:mod:`.kubernetes_api`.

Permissions (``deploy/kubernetes/rbac.yaml``): ``get``, ``patch`` on the
Secret, ``create`` on secrets in the namespace (Kubernetes cannot restrict
``create`` by name), ``get``, ``patch`` on each named workload;
:meth:`KubernetesSink.check` asks the API server with
SelfSubjectAccessReviews and writes nothing.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from rotator.errors import SinkError
from rotator.secret import Secret
from rotator.sinks import kubernetes_rollout as rollout
from rotator.sinks import kubernetes_secret as ownership
from rotator.sinks.base import (
    Confirmation,
    Credential,
    PushContext,
    Sink,
    SinkConfig,
    SinkDeps,
)
from rotator.sinks.kubernetes_api import KubernetesAPI, section, segment
from rotator.sinks.kubernetes_config import DEFAULT_KEYS, KubernetesSinkConfig
from rotator.sinks.kubernetes_rollout import Workload
from rotator.sinks.kubernetes_secret import (
    ACCESS_KEY_MARK,
    KEYS_MARK,
    MANAGED_BY,
    MANAGER,
    OWNER,
    ROTATED_AT_MARK,
    ROTATION_ID_MARK,
)

__all__ = [
    "ACCESS_KEY_MARK",
    "DEFAULT_KEYS",
    "KEYS_MARK",
    "MANAGED_BY",
    "MANAGER",
    "OWNER",
    "ROTATED_AT_MARK",
    "ROTATION_ID_MARK",
    "KubernetesSink",
    "KubernetesSinkConfig",
]

log = logging.getLogger(__name__)


class KubernetesSink(Sink):
    """Delivers the credential's fields to one Secret and rolls the named workloads."""

    type: ClassVar[str] = "kubernetes"
    Config: ClassVar[builtins.type[SinkConfig]] = KubernetesSinkConfig

    def __init__(
        self,
        label: str,
        api: KubernetesAPI,
        *,
        namespace: str,
        secret: str,
        keys: Mapping[str, str],
        restart: list[Workload],
        rollout_timeout: float,
        deps: SinkDeps,
    ) -> None:
        super().__init__(label)
        self._api = api
        self.namespace = namespace
        self.secret = secret
        self.keys = dict(keys)
        self.restart = list(restart)
        self.rollout_timeout = rollout_timeout
        self._deps = deps
        self.policy = deps.policy

    @property
    def location(self) -> str:
        return f"Secret {self.namespace}/{self.secret}"

    @property
    def _path(self) -> str:
        return f"/api/v1/namespaces/{segment(self.namespace)}/secrets/{segment(self.secret)}"

    def _action(self, verb: str) -> str:
        return f"{verb} secrets/{self.secret} in namespace {self.namespace}"

    # ------------------------------------------------------------ contract

    def check(self) -> None:
        """Prove the API answers, rotator may do what a push does, and nobody else owns the Secret.

        Calls ``GET /api/v1/namespaces/{ns}/secrets/{name}`` (a 404 is fine:
        the push creates it) and ``POST
        /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` once per
        permission a push needs. Writes nothing.
        """
        current = self._read()
        if current is not None:
            self._refuse_foreign(current, self.policy)
        needed: list[tuple[str, str, str, str]] = [
            ("get", "", "secrets", self.secret),
            ("patch", "", "secrets", self.secret),
            ("create", "", "secrets", ""),  # create cannot be limited by name
        ]
        for workload in self.restart:
            needed += [
                ("get", "apps", workload.resource, workload.name),
                ("patch", "apps", workload.resource, workload.name),
            ]
        missing = [
            f"{verb} {resource}/{name}" if name else f"{verb} {resource}"
            for verb, group, resource, name in needed
            if not self._api.allowed(self.namespace, verb, resource, group=group, name=name)
        ]
        if missing:
            raise SinkError(
                self.label,
                f"forbidden: {self._api.access.source} may not "
                f"{', '.join(missing)} in namespace {self.namespace} "
                "(see deploy/kubernetes/rbac.yaml)",
            )
        for workload in self.restart:
            rollout.refuse_unwaitable(self._api, workload, rollout.read(self._api, workload))

    def describe_push(self, access_key: str, context: PushContext) -> list[str]:
        """The writes and restarts a push would make, key names only; sends only reads.

        Calls ``GET /api/v1/namespaces/{ns}/secrets/{name}``.
        """
        current = self._read()
        owned = ", ".join(sorted(self.keys))
        lines: list[str] = []
        marked = current is not None and ownership.marked_for(current, context.policy, access_key)
        if current is None:
            lines.append(f"create {self.location} with keys {owned} (access key {access_key})")
        else:
            self._refuse_foreign(current, context.policy)
            version = section(current, "metadata").get("resourceVersion", "?")
            if marked:
                lines.append(f"{self.location} already holds access key {access_key}: no write")
            else:
                lines.append(
                    f"patch keys {owned} of {self.location} (access key {access_key}; "
                    f"resourceVersion {version})"
                )
            kept = sorted(set(section(current, "data")) - set(self.keys))
            if kept:
                lines.append(f"keep the other keys of {self.location}: {', '.join(kept)}")
        if not marked:
            lines.append(
                f"annotate {self.location}: {OWNER}={context.policy}, "
                f"{ACCESS_KEY_MARK}={access_key}"
            )
        for workload in self.restart:
            lines.append(
                f"restart {workload} ({rollout.RESTARTED_AT}) and wait up to "
                f"{self.rollout_timeout:g}s for its rollout"
            )
        return lines

    def push(self, keys: Credential, context: PushContext) -> Confirmation:
        """Write the owned keys, mark the Secret, restart the workloads and await their rollouts.

        Calls ``GET``, then ``POST`` (absent) or ``PATCH`` (present)
        ``/api/v1/namespaces/{ns}/secrets[/{name}]``, then per workload
        ``GET`` and ``PATCH /apis/apps/v1/namespaces/{ns}/{resource}/{name}``
        and ``GET`` again until its rollout completes.
        """
        values = self._values(keys)
        current = self._read()
        if current is None:
            written = self._create(values, keys.access_key, context)
        else:
            self._refuse_foreign(current, context.policy)
            if ownership.holds(current, values) and ownership.marked_for(
                current, context.policy, keys.access_key
            ):
                log.info(
                    "kubernetes sink %s: %s already holds access key %s; not writing",
                    self.label,
                    self.location,
                    keys.access_key,
                )
                written = current
            else:
                written = self._patch(current, values, keys.access_key, context)
        if not ownership.holds(written, values):
            raise SinkError(
                self.label,
                f"the Kubernetes API answered the write to {self.location} without the new "
                "values; not confirmed",
            )
        version = str(section(written, "metadata").get("resourceVersion", ""))
        rollout.restart_all(self._api, self.restart, context)
        rollout.await_all(self._api, self.restart, self.rollout_timeout, self._deps)
        detail = {"secret": f"{self.namespace}/{self.secret}", "resource_version": version}
        if self.restart:
            detail["restarted"] = ", ".join(str(w) for w in self.restart)
        return Confirmation(self.label, detail)

    def holds(self) -> str | None:
        """The access key the Secret holds now, or None when absent or unreadable.

        Calls ``GET /api/v1/namespaces/{ns}/secrets/{name}``.
        """
        target = self._access_target()
        if target is None:
            return None
        try:
            current = self._read()
        except SinkError as exc:
            log.warning("kubernetes sink %s: cannot tell which key it holds: %s", self.label, exc)
            return None
        raw = ownership.decode(section(current or {}, "data").get(target))
        try:
            return raw.decode("utf-8") if raw else None
        except UnicodeDecodeError:
            return None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._api.close()

    # -------------------------------------------------------------- steps

    def _access_target(self) -> str | None:
        """The Secret key that holds the access key id, if any."""
        return next((key for key, field in self.keys.items() if field == "access_key"), None)

    def _values(self, keys: Credential) -> dict[str, Secret]:
        fields = keys.fields()
        values: dict[str, Secret] = {}
        for key, field in self.keys.items():
            if field not in fields:
                raise SinkError(
                    self.label,
                    f"Secret key {key} asks for the credential field {field!r}, which this "
                    f"credential does not have (it has {', '.join(sorted(fields))})",
                )
            values[key] = Secret(fields[field])
        return values

    def _read(self) -> Mapping[str, Any] | None:
        """``GET /api/v1/namespaces/{ns}/secrets/{name}``; None when absent."""
        return self._api.get(self._path, self._action("get"))

    def _create(
        self, values: Mapping[str, Secret], access_key: str, context: PushContext
    ) -> Mapping[str, Any]:
        """``POST /api/v1/namespaces/{ns}/secrets``: a new Opaque Secret with the owned keys."""
        annotations = ownership.marks(self.keys, access_key, context)
        body = ownership.new_secret(self.secret, self.namespace, values, annotations)
        path = f"/api/v1/namespaces/{segment(self.namespace)}/secrets"
        created = self._api.create(path, body, f"create secrets in namespace {self.namespace}")
        log.info(
            "kubernetes sink %s: created %s with keys %s (access key %s)",
            self.label,
            self.location,
            ", ".join(sorted(values)),
            access_key,
        )
        return created

    def _patch(
        self,
        current: Mapping[str, Any],
        values: Mapping[str, Secret],
        access_key: str,
        context: PushContext,
    ) -> Mapping[str, Any]:
        """``PATCH`` (JSON merge patch) only the owned keys, guarded by the resourceVersion read."""
        annotations = ownership.marks(self.keys, access_key, context)
        body = ownership.merge_patch(current, values, annotations)
        patched = self._api.patch(self._path, body, self._action("patch"))
        log.info(
            "kubernetes sink %s: patched keys %s of %s (access key %s)",
            self.label,
            ", ".join(sorted(values)),
            self.location,
            access_key,
        )
        return patched

    def _refuse_foreign(self, secret: Mapping[str, Any], policy: str | None) -> None:
        """Raise when someone else manages the Secret (see :mod:`.kubernetes_secret`)."""
        why = ownership.refusal(secret, policy, self.keys, self.location)
        if why is not None:
            raise SinkError(self.label, why)
