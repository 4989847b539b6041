"""Domain: the Spaces key rotation state machine, its results, and giving a rotation up."""

from rotator.rotation.machine import PolicyRotation, planned_key_name
from rotator.rotation.result import RotationResult, SinkOutcome

__all__ = ["PolicyRotation", "RotationResult", "SinkOutcome", "planned_key_name"]
