"""Restart Deployments and StatefulSets the way ``kubectl rollout restart`` does, and wait.

A restart patches the pod template's ``kubectl.kubernetes.io/restartedAt``
annotation (plus ``rotator.do/rotation-id``, so a resumed rotation does not
restart the same workload twice). A rollout is complete, as
``kubectl rollout status`` judges it, when the controller has observed the
new generation and every desired replica is updated, ready and available
with no old replica left; a Deployment whose ``Progressing`` condition says
``ProgressDeadlineExceeded`` has failed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rotator.errors import SinkError
from rotator.sinks.base import PushContext, SinkDeps
from rotator.sinks.kubernetes_api import STRATEGIC_MERGE_PATCH, KubernetesAPI, section, segment

log = logging.getLogger(__name__)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
ROTATION_MARK = "rotator.do/rotation-id"

RESOURCES = {"deployment": "deployments", "statefulset": "statefulsets"}


@dataclass(frozen=True)
class Workload:
    """``deployment/NAME`` or ``statefulset/NAME`` in one namespace."""

    kind: str  # deployment | statefulset
    name: str
    namespace: str

    @property
    def resource(self) -> str:
        return RESOURCES[self.kind]

    @property
    def path(self) -> str:
        """``/apis/apps/v1/namespaces/{namespace}/{deployments|statefulsets}/{name}``."""
        return (
            f"/apis/apps/v1/namespaces/{segment(self.namespace)}/{self.resource}/"
            f"{segment(self.name)}"
        )

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Progress:
    """Where a rollout stands: done, failed (with why) or still waiting (with why)."""

    done: bool
    failed: bool
    why: str


def _number(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def read(api: KubernetesAPI, workload: Workload) -> Mapping[str, Any]:
    """The workload; a missing one is a definite error.

    ``GET /apis/apps/v1/namespaces/{ns}/{deployments|statefulsets}/{name}``.
    """
    body = api.get(
        workload.path, f"get {workload.resource}/{workload.name} in namespace {workload.namespace}"
    )
    if body is None:
        raise SinkError(
            api.label, f"{workload} not found in namespace {workload.namespace} (nothing restarted)"
        )
    return body


def refuse_unwaitable(api: KubernetesAPI, workload: Workload, body: Mapping[str, Any]) -> None:
    """A StatefulSet updated OnDelete, or a paused Deployment, never rolls out by itself."""
    spec = section(body, "spec")
    if workload.kind == "statefulset" and section(spec, "updateStrategy").get("type") == "OnDelete":
        raise SinkError(
            api.label,
            f"{workload} uses the OnDelete update strategy: its pods are replaced only when "
            "deleted, so rotator cannot restart it and wait; use RollingUpdate",
        )
    if workload.kind == "deployment" and spec.get("paused") is True:
        raise SinkError(api.label, f"{workload} is paused: a restart would never roll out")


def already_restarted(body: Mapping[str, Any], rotation_id: str) -> bool:
    """Whether the pod template already carries this rotation's restart mark."""
    annotations = section(body, "spec", "template", "metadata", "annotations")
    return annotations.get(ROTATION_MARK) == rotation_id


def restart(api: KubernetesAPI, workload: Workload, rotation_id: str, restarted_at: str) -> None:
    """Patch the pod template's annotations, which starts a rolling restart.

    ``PATCH /apis/apps/v1/namespaces/{ns}/{deployments|statefulsets}/{name}``
    (strategic merge patch, as ``kubectl rollout restart`` sends).
    """
    patch = {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {RESTARTED_AT: restarted_at, ROTATION_MARK: rotation_id}
                }
            }
        }
    }
    api.patch(
        workload.path,
        patch,
        f"patch {workload.resource}/{workload.name} in namespace {workload.namespace}",
        kind=STRATEGIC_MERGE_PATCH,
    )


def progress(workload: Workload, body: Mapping[str, Any]) -> Progress:
    """How far the workload's rollout is (``kubectl rollout status`` rules)."""
    spec, status = section(body, "spec"), section(body, "status")
    generation = _number(section(body, "metadata").get("generation"))
    if _number(status.get("observedGeneration")) < generation:
        return Progress(False, False, "the controller has not picked up the restart yet")
    if workload.kind == "deployment":
        for condition in status.get("conditions") or []:
            if (
                isinstance(condition, Mapping)
                and condition.get("type") == "Progressing"
                and condition.get("reason") == "ProgressDeadlineExceeded"
            ):
                return Progress(False, True, "exceeded its progress deadline")
    wanted = _number(spec.get("replicas"), 1)
    updated = _number(status.get("updatedReplicas"))
    ready = _number(status.get("readyReplicas"))
    available = _number(status.get("availableReplicas"))
    total = _number(status.get("replicas"))
    partition = 0
    if workload.kind == "statefulset":
        partition = _number(section(spec, "updateStrategy", "rollingUpdate").get("partition"))
    if updated < wanted - partition:
        return Progress(False, False, f"{updated} of {wanted} replicas updated")
    if total > updated and partition == 0:
        return Progress(False, False, f"{total - updated} old replicas still running")
    if ready < wanted or available < wanted:
        return Progress(False, False, f"{min(ready, available)} of {wanted} replicas available")
    if (
        workload.kind == "statefulset"
        and partition == 0
        and status.get("currentRevision") != status.get("updateRevision")
    ):
        return Progress(False, False, "the update revision is not current yet")
    return Progress(True, False, "rolled out")


def restart_all(api: KubernetesAPI, workloads: Sequence[Workload], context: PushContext) -> None:
    """Restart each workload once per rotation, after checking every one can roll out."""
    bodies = [(workload, read(api, workload)) for workload in workloads]
    for workload, body in bodies:
        refuse_unwaitable(api, workload, body)
    for workload, body in bodies:
        if already_restarted(body, context.rotation_id):
            log.info(
                "kubernetes sink %s: %s was already restarted for rotation %s",
                api.label,
                workload,
                context.rotation_id,
            )
            continue
        stamp = context.rotated_at.isoformat().replace("+00:00", "Z")
        restart(api, workload, context.rotation_id, stamp)
        log.info("kubernetes sink %s: restarting %s", api.label, workload)


def await_all(
    api: KubernetesAPI, workloads: Sequence[Workload], timeout: float, deps: SinkDeps
) -> None:
    """Poll each workload until its rollout completed, within *timeout* seconds.

    A failed rollout is a definite error, one still under way at the end a
    transient one: either way the old key stays valid.
    """
    if not workloads:
        return
    monotonic, sleep = deps.monotonic, deps.sleep
    ends = monotonic() + timeout
    pending = list(workloads)
    while True:
        waiting: list[tuple[Workload, str]] = []
        for workload in pending:
            state = progress(workload, read(api, workload))
            if state.failed:
                raise SinkError(
                    api.label,
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
                api.label,
                f"rollout not complete after {timeout:g}s: {still}; "
                "the old key stays valid and the next run waits again",
                transient=True,
            )
        sleep(max(min(deps.poll_interval, left), 0.0))
