"""What a rotation reports: its outcome and each sink's, as ``rotate --json`` prints them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class SinkOutcome:
    """What happened at one sink (or, in a dry run, would happen)."""

    name: str
    type: str
    status: str  # confirmed | failed | pending | planned
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "status": self.status, **self.detail}


@dataclass
class RotationResult:
    """The outcome of ``rotator rotate`` for one policy."""

    policy: str
    status: str  # succeeded | failed | dry_run | resumed
    old_access_key: str | None = None
    new_access_key: str | None = None
    rotation_id: str | None = None
    sinks: list[SinkOutcome] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    error: str | None = None
    revoke_after: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "status": self.status,
            "old_access_key": self.old_access_key,
            "new_access_key": self.new_access_key,
            "rotation_id": self.rotation_id,
            "sinks": [sink.to_json() for sink in self.sinks],
            "steps": self.steps,
            "error": self.error,
            "revoke_after": self.revoke_after.isoformat() if self.revoke_after else None,
        }
