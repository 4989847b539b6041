"""This replica's leases: claim each item before working on it, renew while it works.

Several ``rotator run`` processes (replicas) may share a store; the store's
leases (:mod:`rotator.store.leases`) decide which one works on an item. The
daemon has one :class:`Leasing`: its replica id (host, pid and a random
part), the leases it holds, and a renewer thread that, every third of the
lease TTL, records the replica's heartbeat and renews every lease it holds.

:func:`claimed` wraps the work on one item (see
:meth:`rotator.engine.jobs.base.Job.attempt`): it claims the item's lease
(or reports who holds it, and for how long, so the job defers the item until
then), makes the fence visible to the work through :func:`current_fence`
(the rotate job hands it to :mod:`rotator.services.rotate`, which fences
every state write and checks it before every side effect), and releases the
lease when the work ends. A lease lost on the way (the renewer could not
renew it in time, or a fenced write was refused) stops the item before its
next side effect: :class:`~rotator.errors.LeaseLost` ends the work, the
item is counted as ``lease_lost`` and is deferred, since another replica now
carries it on.

On SQLite (one host) the leases work the same way, by SQLite's clock, and the
file locks stay as they were.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import timedelta

from rotator import __version__
from rotator.errors import LeaseLost, RotatorError
from rotator.store import Claim, Fence, Store

log = logging.getLogger(__name__)

_CURRENT: ContextVar[Fence | None] = ContextVar("rotator_lease", default=None)
# A replica silent for this many TTLs is dropped from the list ``rotator status`` shows.
FORGET_AFTER_TTLS = 20


def current_fence() -> Fence | None:
    """The lease of the item this thread works on now (None outside :func:`claimed`)."""
    return _CURRENT.get()


def replica_id() -> str:
    """A new id for this process: its host, its pid and a random part."""
    host = socket.gethostname().split(".")[0][:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


class Leasing:
    """This replica: its id, the leases it holds, and the thread that keeps them alive."""

    def __init__(
        self,
        open_store: Callable[[], Store],
        ttl: Callable[[], timedelta],
        *,
        replica: str | None = None,
    ) -> None:
        self.id = replica or replica_id()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._open_store = open_store
        self._ttl = ttl
        self._held: dict[str, Fence] = {}
        self._lost: set[Fence] = set()
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost_total = 0

    @property
    def ttl(self) -> timedelta:
        return self._ttl()

    @property
    def held(self) -> list[Fence]:
        with self._mutex:
            return list(self._held.values())

    # -- claims -------------------------------------------------------------------

    def claim(self, store: Store, item: str) -> Claim:
        claim = store.leases.claim(item, self.id, self.ttl)
        if claim.fence is not None:
            with self._mutex:
                self._held[item] = claim.fence
        return claim

    def release(self, store: Store, fence: Fence) -> None:
        with self._mutex:
            if self._held.get(fence.item) == fence:
                del self._held[fence.item]
            lost = fence in self._lost
            self._lost.discard(fence)
        if not lost:
            try:
                store.leases.release(fence)
            except RotatorError as exc:  # it expires on its own
                log.warning("could not release the lease on %s: %s", fence.item, exc)

    def is_lost(self, fence: Fence) -> bool:
        with self._mutex:
            return fence in self._lost

    def note_lost(self, fence: Fence, reason: str, store: Store | None = None) -> None:
        """Count a lost lease once, log it and record it against this replica."""
        with self._mutex:
            if fence in self._lost:
                return
            self._lost.add(fence)
            self._held.pop(fence.item, None)
            self.lost_total += 1
        log.warning("%s; stopping that work, another replica carries it on", reason)
        try:
            if store is not None:
                store.leases.lost(self.id)
            else:
                with self._open_store() as opened:
                    opened.leases.lost(self.id)
        except RotatorError as exc:
            log.warning("could not record the lost lease: %s", exc)

    # -- the renewer --------------------------------------------------------------

    def start(self) -> None:
        """Record the heartbeat once now, then keep it and the leases alive in a thread."""
        self.renew_all()
        self._thread = threading.Thread(target=self._run, name="rotator-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing; release what is still held and leave the replica list."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            with self._open_store() as store:
                for fence in self.held:
                    self.release(store, fence)
                store.leases.forget(self.id)
        except RotatorError as exc:  # the leases expire on their own
            log.warning("could not release this replica's leases: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(self.ttl.total_seconds() / 3):
            try:
                self.renew_all()
            except Exception:  # the thread must outlive one bad round; the log shows why
                log.exception("lease renewal failed")

    def renew_all(self) -> None:
        """One round: heartbeat, then renew each lease held (a refused one is lost)."""
        try:
            with self._open_store() as store:
                store.leases.beat(self.id, host=self.host, pid=self.pid, version=__version__)
                for fence in self.held:
                    try:
                        store.leases.renew(fence, self.ttl)
                    except LeaseLost as exc:
                        self.note_lost(fence, str(exc), store)
                store.leases.prune_replicas(self.ttl * FORGET_AFTER_TTLS)
        except RotatorError as exc:
            log.warning("could not renew leases: %s", exc)


@contextlib.contextmanager
def claimed(leasing: Leasing | None, store: Store, item: str) -> Iterator[Claim | None]:
    """Hold *item*'s lease around the work on it; None without leasing.

    The claim's ``fence`` is None when another replica holds the item (its
    ``holder`` and ``remaining`` say who and for how long): the caller skips it.
    """
    if leasing is None:
        yield None
        return
    claim = leasing.claim(store, item)
    fence = claim.fence
    if fence is None:
        yield claim
        return
    token = _CURRENT.set(fence)
    try:
        yield claim
    except LeaseLost as exc:
        leasing.note_lost(fence, str(exc), store)
        raise
    finally:
        _CURRENT.reset(token)
        leasing.release(store, fence)
