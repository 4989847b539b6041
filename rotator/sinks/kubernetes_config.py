"""The kubernetes sink's config table: where the Secret is, its keys, the workloads, the access.

``[[policy.sink]] type = "kubernetes"``: every name is checked against
Kubernetes' own rules when the config is read (a namespace is a DNS label,
a Secret or workload name a DNS subdomain), and exactly one way to reach the
API server is named (``in_cluster = true`` or a ``kubeconfig``). The sink
itself is :mod:`rotator.sinks.kubernetes`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from rotator.configtypes import Duration, ReadableFile, seconds
from rotator.errors import ConfigError
from rotator.sinks.base import SinkConfig, SinkDeps
from rotator.sinks.kubernetes_api import DEFAULT_TIMEOUT, KubernetesAPI
from rotator.sinks.kubernetes_auth import ClusterAccess, from_kubeconfig, in_cluster
from rotator.sinks.kubernetes_rollout import Workload

if TYPE_CHECKING:
    from rotator.sinks.kubernetes import KubernetesSink

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
        # The sink names this model as its Config, so it is imported here, not at the top.
        from rotator.sinks.kubernetes import KubernetesSink

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
