"""What the repositories that keep sealed secrets share: database, log, clock and keys."""

from __future__ import annotations

from collections.abc import Callable

from rotator.crypto import Keyring
from rotator.store.database import Clock, Database
from rotator.store.history import History


class SealingRepository:
    """A repository whose writes append to the audit log and seal with the store's keyring."""

    def __init__(
        self, db: Database, history: History, now: Clock, keyring: Callable[[], Keyring]
    ) -> None:
        self._db = db
        self._history = history
        self._now = now
        self._keyring = keyring
