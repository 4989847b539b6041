"""Each token's rate budget shared through the store, for replicas on one PostgreSQL.

:class:`StoreBudget` is the :class:`~rotator.digitalocean.shared.SharedLimit`
a :class:`~rotator.digitalocean.budget.RateBudget` consults once per admitted
piece of work when the store is PostgreSQL (several replicas may share it);
its rows are :mod:`rotator.store.budgets`. It keeps one small connection pool
of its own, opened when first needed and again after :meth:`close` or a
failed opening, so a database that was down is tried again at the next
admission. With SQLite (one daemon) none is made: the process's own budget
is the whole truth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rotator.digitalocean.shared import SharedGrant
from rotator.store import Store
from rotator.store.budgets import Limits

OpenStore = Callable[[], Store]


class StoreBudget:
    """Reserve, give back and correct the shared budget of each token in the store."""

    def __init__(self, open_store: OpenStore, limits: Limits) -> None:
        self._open_store = open_store
        self._limits = limits
        self._store: Store | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StoreBudget({self._limits})"

    def _budgets(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = self._open_store()  # StoreError when unreachable
            return self._store

    def reserve(self, key: str, calls: int) -> SharedGrant:
        reserved = self._budgets().budgets.reserve(key, calls, self._limits)
        return SharedGrant(reserved.granted, reserved.wait.total_seconds(), reserved.mark)

    def release(self, key: str, calls: int, mark: int, report: tuple[int, float] | None) -> None:
        store = self._budgets()
        with store.transaction():
            if report is not None:
                store.budgets.report(key, report[0], report[1], self._limits)
            store.budgets.release(key, calls, mark, self._limits)

    def block(self, key: str, seconds: float) -> None:
        self._budgets().budgets.block(key, seconds, self._limits)

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()
