"""The store: schema, migrations, one repository per table, the UTC codec and the locks."""

from rotator.store.codec import utc_now
from rotator.store.conditions import Condition
from rotator.store.connections import Connection, ValidationRecord
from rotator.store.core import Store
from rotator.store.history import AuditEntry
from rotator.store.leases import Claim, Fence, Lease, Leases, Replica, policy_item
from rotator.store.lock import WriterLock, check_state_dir, open_lock_file
from rotator.store.outbox import OutboxRow
from rotator.store.rotations import PolicyKeys, RotationRecord, Rotations, SinkRecord
from rotator.store.schema import SCHEMA_VERSION
from rotator.store.scopes import StoredScopeReport

__all__ = [
    "SCHEMA_VERSION",
    "AuditEntry",
    "Claim",
    "Condition",
    "Connection",
    "Fence",
    "Lease",
    "Leases",
    "OutboxRow",
    "PolicyKeys",
    "Replica",
    "RotationRecord",
    "Rotations",
    "SinkRecord",
    "Store",
    "StoredScopeReport",
    "ValidationRecord",
    "WriterLock",
    "check_state_dir",
    "open_lock_file",
    "policy_item",
    "utc_now",
]
