"""App Platform deployments whose phase is computed from the clock, not by a thread.

A deployment walks PENDING_BUILD → BUILDING → DEPLOYING → its outcome
(ACTIVE, or ERROR/CANCELED when a failure was asked for), one step every
``step_seconds``. Nothing runs in the background: whoever reads an app calls
:func:`settle`, which freezes deployments that have finished and makes the
newest ACTIVE one the app's active deployment (the one before it becomes
SUPERSEDED). A deployment overtaken by a newer one while still running is
frozen as SUPERSEDED at once.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

STEPS = ("PENDING_BUILD", "BUILDING", "DEPLOYING")
OUTCOMES = ("ACTIVE", "ERROR", "CANCELED")
TERMINAL = frozenset({*OUTCOMES, "SUPERSEDED"})
# What the API shows for "never" (a Go zero time), e.g. phase_last_updated_at.
ZERO_TIME = "0001-01-01T00:00:00Z"


def iso(timestamp: float) -> str:
    """A Unix time as the API writes it: RFC 3339 UTC, seconds precision."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Deployment:
    """One deployment of an app; ``spec`` holds plaintext env values."""

    id: str
    spec: dict[str, Any]
    cause: str
    created_at: float
    outcome: str
    step_seconds: float
    frozen_phase: str | None = None
    frozen_at: float | None = None

    @classmethod
    def start(
        cls, spec: dict[str, Any], cause: str, now: float, step_seconds: float, outcome: str
    ) -> Deployment:
        """A new deployment of ``spec`` that begins now."""
        return cls(str(uuid.uuid4()), copy.deepcopy(spec), cause, now, outcome, step_seconds)

    def finishes_at(self) -> float:
        """When the deployment reaches its outcome if nothing overtakes it."""
        return self.created_at + len(STEPS) * self.step_seconds

    def phase(self, now: float) -> str:
        """The phase at time ``now``."""
        if self.frozen_phase is not None:
            return self.frozen_phase
        if now >= self.finishes_at():
            return self.outcome
        step = int((now - self.created_at) // self.step_seconds) if self.step_seconds > 0 else 0
        return STEPS[max(0, min(step, len(STEPS) - 1))]

    def phase_changed_at(self, now: float) -> float | None:
        """When the current phase began, or None while still pending."""
        if self.frozen_at is not None:
            return self.frozen_at
        phase = self.phase(now)
        if phase == STEPS[0]:
            return None
        if phase in OUTCOMES:
            return self.finishes_at()
        return self.created_at + STEPS.index(phase) * self.step_seconds

    def running(self, now: float) -> bool:
        """Whether the deployment is still pending or in progress."""
        return self.phase(now) not in TERMINAL

    def freeze(self, phase: str, at: float) -> None:
        """Pin the phase (a finished or superseded deployment no longer moves)."""
        self.frozen_phase = phase
        self.frozen_at = at

    def to_json(self) -> dict[str, Any]:
        """The record as stored in the state file."""
        return {
            "id": self.id,
            "spec": copy.deepcopy(self.spec),
            "cause": self.cause,
            "created_at": self.created_at,
            "outcome": self.outcome,
            "step_seconds": self.step_seconds,
            "frozen_phase": self.frozen_phase,
            "frozen_at": self.frozen_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        """A record read back from the state file."""
        return cls(
            id=str(data["id"]),
            spec=dict(data["spec"]),
            cause=str(data["cause"]),
            created_at=float(data["created_at"]),
            outcome=str(data["outcome"]),
            step_seconds=float(data["step_seconds"]),
            frozen_phase=data.get("frozen_phase"),
            frozen_at=None if data.get("frozen_at") is None else float(data["frozen_at"]),
        )


def settle(deployments: list[Deployment], active_id: str | None, now: float) -> str | None:
    """Freeze finished deployments and return the id of the app's active deployment.

    ``deployments`` is in creation order; the previous active deployment is
    frozen as SUPERSEDED when a newer one reaches ACTIVE.
    """
    by_id = {d.id: d for d in deployments}
    for deployment in deployments:
        if deployment.frozen_phase is not None:
            continue
        phase = deployment.phase(now)
        if phase not in OUTCOMES:
            continue
        finished = deployment.finishes_at()
        deployment.freeze(phase, finished)
        if phase == "ACTIVE":
            previous = by_id.get(active_id) if active_id else None
            if previous is not None and previous is not deployment:
                previous.freeze("SUPERSEDED", finished)
            active_id = deployment.id
    return active_id


# How far each phase got through build → deploy → finalize: steps finished,
# and the status of the step after them.
_PROGRESS = {
    "PENDING_BUILD": (0, "PENDING"),
    "BUILDING": (0, "RUNNING"),
    "DEPLOYING": (1, "RUNNING"),
    "ACTIVE": (3, "SUCCESS"),
    "ERROR": (1, "ERROR"),
    "CANCELED": (1, "PENDING"),
    "SUPERSEDED": (1, "PENDING"),
}
_PROGRESS_STEPS = ("build", "deploy", "finalize")


def progress(phase: str, components: list[str]) -> dict[str, Any]:
    """A ``progress`` object in the shape the API uses, derived from the phase."""
    finished, current = _PROGRESS.get(phase, (0, "PENDING"))
    steps: list[dict[str, Any]] = []
    for index, name in enumerate(_PROGRESS_STEPS):
        status = "SUCCESS" if index < finished else current if index == finished else "PENDING"
        step: dict[str, Any] = {"name": name, "status": status}
        if name != "finalize":
            step["steps"] = [{"name": c, "component_name": c, "status": status} for c in components]
        steps.append(step)
    statuses = [step["status"] for step in steps]
    return {
        "success_steps": statuses.count("SUCCESS"),
        "error_steps": statuses.count("ERROR"),
        "running_steps": statuses.count("RUNNING"),
        "pending_steps": statuses.count("PENDING"),
        "total_steps": len(steps),
        "steps": steps,
    }
