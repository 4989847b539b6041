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

Ownership marks on the Secret (other labels and annotations are kept)::

    labels:      app.kubernetes.io/managed-by = rotator
    annotations: rotator.do/owner        = <policy name>
                 rotator.do/keys         = <the data keys rotator owns, comma-separated>
                 rotator.do/access-key   = <access key id served>
                 rotator.do/rotation-id  = <rotation id>
                 rotator.do/rotated-at   = <ISO 8601 time of the push>

A Secret is someone else's (and refused) when ``rotator.do/owner`` names
another policy, ``app.kubernetes.io/managed-by`` names another tool (Helm,
...), a controller owns it (``ownerReferences`` with ``controller: true``:
External Secrets, Sealed Secrets), or a server-side-apply manager other than
rotator owns one of the keys rotator would write (``managedFields``, Argo CD,
Flux). An immutable Secret is refused too. Rotator writes as field manager
``rotator``.

Permissions (``deploy/kubernetes/rbac.yaml``): ``get``, ``patch`` on the
Secret, ``create`` on secrets in the namespace (Kubernetes cannot restrict
``create`` by name), ``get``, ``patch`` on each named workload;
:meth:`KubernetesSink.check` asks the API server with
SelfSubjectAccessReviews and writes nothing.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hmac
import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from rotator.configtypes import Duration, ReadableFile, seconds
from rotator.errors import ConfigError, SinkError
from rotator.secret import Secret
from rotator.sinks import kubernetes_rollout as rollout
from rotator.sinks.base import (
    Confirmation,
    Credential,
    PushContext,
    Sink,
    SinkConfig,
    SinkDeps,
)
from rotator.sinks.kubernetes_api import (
    DEFAULT_TIMEOUT,
    FIELD_MANAGER,
    KubernetesAPI,
    segment,
)
from rotator.sinks.kubernetes_auth import ClusterAccess, from_kubeconfig, in_cluster
from rotator.sinks.kubernetes_rollout import Workload

log = logging.getLogger(__name__)

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "rotator"
OWNER = "rotator.do/owner"
KEYS_MARK = "rotator.do/keys"
ACCESS_KEY_MARK = "rotator.do/access-key"
ROTATION_ID_MARK = "rotator.do/rotation-id"
ROTATED_AT_MARK = "rotator.do/rotated-at"

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
WORKLOAD = re.compile(r"^(deployment|statefulset)/(.+)$")

DEFAULT_KEYS = {"SPACES_ACCESS_KEY": "access_key", "SPACES_SECRET_KEY": "secret_key"}


def _subdomain(value: str, what: str) -> str:
    if len(value) > 253 or not DNS_SUBDOMAIN.match(value):
        raise ValueError(
            f"{value!r} is not a valid {what} (lowercase letters, digits, '-' and '.', "
            "at most 253, starting and ending with a letter or digit)"
        )
    return value


class KubernetesSinkConfig(SinkConfig):
    """``type = "kubernetes"``: a Secret in a cluster, and the workloads that read it."""

    type: Literal["kubernetes"]
    namespace: str
    secret: str
    # Secret data key -> the credential's field written there.
    keys: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_KEYS))
    restart: list[str] = Field(default_factory=list)
    rollout_timeout: Duration = timedelta(minutes=10)
    in_cluster: bool = False
    kubeconfig: ReadableFile | None = None
    context: str | None = None
    # The most one request to the API server may take.
    timeout: Duration = timedelta(seconds=DEFAULT_TIMEOUT)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if len(value) > 63 or not DNS_LABEL.match(value):
            raise ValueError(
                f"{value!r} is not a valid namespace (lowercase letters, digits and '-', "
                "at most 63, starting and ending with a letter or digit)"
            )
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return _subdomain(value, "Secret name")

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("name at least one Secret key")
        for key, source in value.items():
            if len(key) > 253 or not SECRET_KEY.match(key):
                raise ValueError(
                    f"{key!r} is not a valid Secret key (letters, digits, '-', '_' and '.')"
                )
            if not source:
                raise ValueError(f"Secret key {key!r} names no credential field")
        return value

    @field_validator("restart")
    @classmethod
    def _restart(cls, value: list[str]) -> list[str]:
        for item in value:
            match = WORKLOAD.match(item)
            if match is None:
                raise ValueError(f"{item!r} is not deployment/NAME or statefulset/NAME")
            _subdomain(match.group(2), "workload name")
        if len(set(value)) != len(value):
            raise ValueError("a workload is named twice")
        return value

    @field_validator("rollout_timeout", "timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be longer than zero")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> KubernetesSinkConfig:
        if self.in_cluster == (self.kubeconfig is not None):
            raise ValueError("set exactly one of in_cluster = true or kubeconfig = <path>")
        if self.context is not None and self.kubeconfig is None:
            raise ValueError("context applies to a kubeconfig only")
        return self

    def default_label(self) -> str:
        return f"{self.namespace}/{self.secret}"

    def access(self) -> ClusterAccess:
        """Where the API server is and the credentials to show it (reads files, sends nothing)."""
        if self.kubeconfig is not None:
            return from_kubeconfig(Path(self.kubeconfig), self.context)
        return in_cluster()

    def build(self, deps: SinkDeps) -> KubernetesSink:
        """The sink and its API connection; reads the kubeconfig or token files, sends nothing."""
        label = self.label
        try:
            access = self.access()
        except ConfigError as exc:
            raise ConfigError(exc.source, [f"sink {label}: {p}" for p in exc.problems]) from exc
        api = KubernetesAPI(label, access, timeout=seconds(self.timeout))
        workloads = []
        for item in self.restart:
            kind, _, name = item.partition("/")
            workloads.append(Workload(kind, name, self.namespace))
        return KubernetesSink(
            label,
            api,
            namespace=self.namespace,
            secret=self.secret,
            keys=self.keys,
            restart=workloads,
            rollout_timeout=seconds(self.rollout_timeout),
            deps=deps,
        )


def _decode(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _encode(value: str) -> str:
    return base64.b64encode(value.encode()).decode("ascii")


def _mapping(body: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    for key in keys:
        value = body.get(key)
        body = value if isinstance(value, Mapping) else {}
    return body


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
        marked = current is not None and self._marked_for(current, context.policy, access_key)
        if current is None:
            lines.append(f"create {self.location} with keys {owned} (access key {access_key})")
        else:
            self._refuse_foreign(current, context.policy)
            version = _mapping(current, "metadata").get("resourceVersion", "?")
            if marked:
                lines.append(f"{self.location} already holds access key {access_key}: no write")
            else:
                lines.append(
                    f"patch keys {owned} of {self.location} (access key {access_key}; "
                    f"resourceVersion {version})"
                )
            kept = sorted(set(_mapping(current, "data")) - set(self.keys))
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
            if self._holds(current, values) and self._marked_for(
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
        if not self._holds(written, values):
            raise SinkError(
                self.label,
                f"the Kubernetes API answered the write to {self.location} without the new "
                "values; not confirmed",
            )
        version = str(_mapping(written, "metadata").get("resourceVersion", ""))
        self._restart(context)
        self._await_rollouts()
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
        raw = _decode(_mapping(current or {}, "data").get(target))
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

    def _holds(self, secret: Mapping[str, Any], values: Mapping[str, Secret]) -> bool:
        data = _mapping(secret, "data")
        for key, value in values.items():
            stored = _decode(data.get(key))
            if stored is None or not hmac.compare_digest(stored, value.reveal().encode()):
                return False
        return True

    def _marked_for(self, secret: Mapping[str, Any], policy: str, access_key: str) -> bool:
        annotations = _mapping(secret, "metadata", "annotations")
        return annotations.get(OWNER) == policy and annotations.get(ACCESS_KEY_MARK) == access_key

    def _annotations(self, access_key: str, context: PushContext) -> dict[str, str]:
        return {
            OWNER: context.policy,
            KEYS_MARK: ",".join(sorted(self.keys)),
            ACCESS_KEY_MARK: access_key,
            ROTATION_ID_MARK: context.rotation_id,
            ROTATED_AT_MARK: context.rotated_at.isoformat(),
        }

    def _create(
        self, values: Mapping[str, Secret], access_key: str, context: PushContext
    ) -> Mapping[str, Any]:
        """``POST /api/v1/namespaces/{ns}/secrets``: a new Opaque Secret with the owned keys."""
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.secret,
                "namespace": self.namespace,
                "labels": {MANAGED_BY: MANAGER},
                "annotations": self._annotations(access_key, context),
            },
            "type": "Opaque",
            "data": {key: _encode(value.reveal()) for key, value in values.items()},
        }
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
        metadata: dict[str, Any] = {
            "resourceVersion": _mapping(current, "metadata").get("resourceVersion"),
            "annotations": self._annotations(access_key, context),
        }
        if MANAGED_BY not in _mapping(current, "metadata", "labels"):
            metadata["labels"] = {MANAGED_BY: MANAGER}
        body = {
            "metadata": metadata,
            "data": {key: _encode(value.reveal()) for key, value in values.items()},
        }
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
        """Raise when someone else manages the Secret (see the module docstring)."""
        metadata = _mapping(secret, "metadata")
        owner = self._foreign_owner(metadata, policy)
        if owner is not None:
            mine = f"policy {policy!r}" if policy else "this sink"
            raise SinkError(
                self.label,
                f"{self.location} is managed by {owner}; {mine} will not write there "
                "(choose another Secret name)",
            )
        if secret.get("immutable") is True:
            raise SinkError(self.label, f"{self.location} is immutable; rotator cannot update it")

    def _foreign_owner(self, metadata: Mapping[str, Any], policy: str | None) -> str | None:
        for reference in metadata.get("ownerReferences") or []:
            if isinstance(reference, Mapping) and reference.get("controller") is True:
                return f"the controller {reference.get('kind')}/{reference.get('name')}"
        manager = _mapping(metadata, "labels").get(MANAGED_BY) or _mapping(
            metadata, "annotations"
        ).get(MANAGED_BY)
        if manager is not None and manager != MANAGER:
            return f"{manager!r} ({MANAGED_BY})"
        marked = _mapping(metadata, "annotations").get(OWNER)
        if marked is not None and policy is not None and marked != policy:
            return f"rotator policy {marked!r} ({OWNER})"
        for entry in metadata.get("managedFields") or []:
            if not isinstance(entry, Mapping) or entry.get("operation") != "Apply":
                continue
            if entry.get("manager") == FIELD_MANAGER:
                continue
            data = _mapping(entry, "fieldsV1", "f:data")
            taken = sorted(key for key in self.keys if f"f:{key}" in data)
            if taken:
                return (
                    f"the server-side-apply manager {entry.get('manager')!r}, which owns "
                    f"{', '.join(taken)}"
                )
        return None

    def _restart(self, context: PushContext) -> None:
        """Restart each named workload once per rotation."""
        bodies = [(w, rollout.read(self._api, w)) for w in self.restart]
        for workload, body in bodies:
            rollout.refuse_unwaitable(self._api, workload, body)
        for workload, body in bodies:
            if rollout.already_restarted(body, context.rotation_id):
                log.info(
                    "kubernetes sink %s: %s was already restarted for rotation %s",
                    self.label,
                    workload,
                    context.rotation_id,
                )
                continue
            stamp = context.rotated_at.isoformat().replace("+00:00", "Z")
            rollout.restart(self._api, workload, context.rotation_id, stamp)
            log.info("kubernetes sink %s: restarting %s", self.label, workload)

    def _await_rollouts(self) -> None:
        """Poll each workload until its rollout completed, within ``rollout_timeout``."""
        if not self.restart:
            return
        monotonic, sleep = self._deps.monotonic, self._deps.sleep
        ends = monotonic() + self.rollout_timeout
        pending = list(self.restart)
        while True:
            waiting: list[tuple[Workload, str]] = []
            for workload in pending:
                state = rollout.progress(workload, rollout.read(self._api, workload))
                if state.failed:
                    raise SinkError(
                        self.label,
                        f"the rollout of {workload} {state.why}; the Secret holds the new key "
                        "but the pods may not, so the old key stays valid",
                    )
                if not state.done:
                    waiting.append((workload, state.why))
            if not waiting:
                return
            pending = [workload for workload, _ in waiting]
            left = ends - monotonic()
            if left <= 0:
                still = "; ".join(f"{workload} ({why})" for workload, why in waiting)
                raise SinkError(
                    self.label,
                    f"rollout not complete after {self.rollout_timeout:g}s: {still}; "
                    "the old key stays valid and the next run waits again",
                    transient=True,
                )
            sleep(max(min(self._deps.poll_interval, left), 0.0))
