"""Domain: the rotation state machine (any credential kind), its results, giving one up."""

from rotator.rotation.machine import PolicyRotation, planned_key_name
from rotator.rotation.result import RotationResult, SinkOutcome

__all__ = ["PolicyRotation", "RotationResult", "SinkOutcome", "planned_key_name"]
