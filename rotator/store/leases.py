"""Leases on units of work, with fencing tokens, and the replicas sharing the store.

Several ``rotator run`` processes (replicas) may share one store. Before a
replica works on an item (a policy's rotation, a connection's validation or
audit, the alert outbox) it *claims* the item's lease: one row in
``leases`` naming the holder, a *fencing token* and an expiry. Everything
is decided by one statement in the database, by the database's clock
(:attr:`~rotator.store.database.Database.now_sql`), so the replicas' clocks
play no part:

- **claim**: ``INSERT … ON CONFLICT (item) DO UPDATE SET holder = ?, token =
  token + 1, expires_at = now + ttl WHERE expires_at <= now OR holder = ?
  RETURNING token`` — a row back means the lease is ours with that token; no
  row means another holder's lease is still alive.
- **renew**: ``UPDATE … SET expires_at = now + ttl WHERE item = ? AND token
  = ? AND expires_at > now`` — only the newest token, only before expiry. A
  lease that expired is lost even if nobody took it yet: the holder cannot
  know what happened meanwhile.
- **release**: the row stays (with its token), expired at once, so the next
  claim's token is still larger: tokens only ever grow.
- **check** (a *fenced write*): the first statement of a transaction that
  changes an item's state is the renew statement above, with the same
  ``WHERE``. On PostgreSQL it takes the lease row's lock, so a claim by
  another replica waits until the write commits (and then bumps the token);
  on SQLite ``BEGIN IMMEDIATE`` orders them. No row: :class:`LeaseLost`,
  and the transaction (the write) is rolled back.

``replicas`` is each replica's heartbeat (id, host, pid, version, last
seen), for ``rotator status``. Times in both tables are whole milliseconds
since the epoch by the database's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rotator.errors import LeaseLost, StoreError
from rotator.store.database import Database


@dataclass(frozen=True)
class Fence:
    """A claimed lease: the item, and the fencing token the claim returned."""

    item: str
    token: int

    def __str__(self) -> str:
        return f"{self.item}#{self.token}"


@dataclass(frozen=True)
class Lease:
    """A lease row as the store has it."""

    item: str
    holder: str
    token: int
    acquired_at: datetime
    expires_at: datetime
    remaining: timedelta
    """How long until it expires, by the database's clock (negative: expired)."""

    @property
    def alive(self) -> bool:
        return self.remaining > timedelta(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "holder": self.holder,
            "token": self.token,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class Claim:
    """The answer to a claim: a fence when the lease is ours, else who holds it and how long."""

    fence: Fence | None
    holder: str | None = None
    remaining: timedelta = timedelta(0)


@dataclass(frozen=True)
class Replica:
    """One replica's heartbeat."""

    id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    last_seen: datetime
    leases_lost: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "started_at": self.started_at.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "leases_lost": self.leases_lost,
        }


def policy_item(policy: str) -> str:
    """The lease item of a policy: its rotation and its revocation share it."""
    return f"policy:{policy}"


def from_ms(value: object) -> datetime:
    """A moment from whole milliseconds since the epoch (as the lease tables keep them)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise StoreError(f"the store's lease tables hold {str(value)[:40]!r}, not a time")
    return datetime.fromtimestamp(value / 1000, UTC)


def _ms(duration: timedelta) -> int:
    return max(1, int(duration.total_seconds() * 1000))


class Leases:
    """Claims, renews, releases and checks leases; keeps the replicas' heartbeats."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._now = db.now_sql

    # -- leases ------------------------------------------------------------------

    def claim(self, item: str, holder: str, ttl: timedelta) -> Claim:
        """Take *item*'s lease for *ttl* if it is free, expired or already *holder*'s.

        Every successful claim gets a larger token than any before it, even a
        re-claim by the same holder (whose earlier fence stops working).
        """
        now = self._now
        with self._db.transaction():
            row = self._db.execute(
                "INSERT INTO leases (item, holder, token, acquired_at, expires_at) "  # noqa: S608
                f"VALUES (?, ?, 1, {now}, {now} + ?) "
                "ON CONFLICT (item) DO UPDATE SET holder = excluded.holder, "
                "token = leases.token + 1, acquired_at = excluded.acquired_at, "
                "expires_at = excluded.expires_at "
                f"WHERE leases.expires_at <= {now} OR leases.holder = excluded.holder "
                "RETURNING token",
                (item, holder, _ms(ttl)),
            ).fetchone()
            if row is not None:
                return Claim(Fence(item, int(row[0])))
            held = self._db.execute(
                f"SELECT holder, expires_at - {now} FROM leases WHERE item = ?",  # noqa: S608
                (item,),
            ).fetchone()
        if held is None:  # released between the two statements (SQLite cannot: one writer)
            return Claim(None)
        return Claim(None, str(held[0]), timedelta(milliseconds=max(0, int(held[1]))))

    def renew(self, fence: Fence, ttl: timedelta) -> None:
        """Extend the lease by *ttl* from now; :class:`LeaseLost` if it is no longer ours."""
        with self._db.transaction():
            self._fenced(fence, ttl)

    def check(self, fence: Fence) -> None:
        """Inside a write's transaction, first: raise :class:`LeaseLost` unless *fence* holds.

        Outside a transaction it is a one-statement check before a side effect.
        """
        with self._db.transaction():
            self._fenced(fence, None)

    def _fenced(self, fence: Fence, ttl: timedelta | None) -> None:
        now = self._now
        params: tuple[object, ...]
        if ttl is None:
            # A no-op update: the row lock orders this write against a concurrent claim.
            setting, params = "token = token", (fence.item, fence.token)
        else:
            setting, params = f"expires_at = {now} + ?", (_ms(ttl), fence.item, fence.token)
        row = self._db.execute(
            f"UPDATE leases SET {setting} "  # noqa: S608
            f"WHERE item = ? AND token = ? AND expires_at > {now} RETURNING token",
            params,
        ).fetchone()
        if row is None:
            raise LeaseLost(self._lost_reason(fence))

    def _lost_reason(self, fence: Fence) -> str:
        row = self._db.execute(
            f"SELECT holder, token, expires_at - {self._now} FROM leases WHERE item = ?",  # noqa: S608
            (fence.item,),
        ).fetchone()
        if row is None:
            return f"lease lost on {fence.item}: it has no lease; nothing was written"
        holder, token, remaining = str(row[0]), int(row[1]), int(row[2])
        if token != fence.token:
            return (
                f"lease lost on {fence.item}: token {fence.token} is stale, {holder} holds "
                f"token {token}; nothing was written"
            )
        return (
            f"lease lost on {fence.item}: it expired {max(0, -remaining) / 1000:.1f}s ago; "
            "nothing was written"
        )

    def release(self, fence: Fence) -> bool:
        """Give the lease up at once (if still ours); the row and its token stay."""
        with self._db.transaction():
            changed = self._db.execute(
                f"UPDATE leases SET expires_at = {self._now} "  # noqa: S608
                f"WHERE item = ? AND token = ? AND expires_at > {self._now}",
                (fence.item, fence.token),
            ).rowcount
        return changed == 1

    def get(self, item: str) -> Lease | None:
        row = self._db.execute(
            "SELECT item, holder, token, acquired_at, expires_at, "  # noqa: S608
            f"expires_at - {self._now} FROM leases WHERE item = ?",
            (item,),
        ).fetchone()
        return None if row is None else self._lease(row)

    def held(self, holder: str | None = None) -> list[Lease]:
        """Every lease alive now (of *holder*, if given), by item."""
        query = (
            "SELECT item, holder, token, acquired_at, expires_at, "  # noqa: S608
            f"expires_at - {self._now} FROM leases WHERE expires_at > {self._now}"
        )
        params: tuple[object, ...] = ()
        if holder is not None:
            query += " AND holder = ?"
            params = (holder,)
        return [self._lease(row) for row in self._db.execute(query + " ORDER BY item", params)]

    @staticmethod
    def _lease(row: tuple[Any, ...]) -> Lease:
        return Lease(
            str(row[0]),
            str(row[1]),
            int(row[2]),
            from_ms(row[3]),
            from_ms(row[4]),
            timedelta(milliseconds=int(row[5])),
        )

    # -- replicas ----------------------------------------------------------------

    def beat(self, replica: str, *, host: str, pid: int, version: str) -> None:
        """Record that *replica* is alive now."""
        now = self._now
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO replicas (id, host, pid, version, started_at, last_seen) "  # noqa: S608
                f"VALUES (?, ?, ?, ?, {now}, {now}) ON CONFLICT (id) DO UPDATE SET "
                "host = excluded.host, pid = excluded.pid, version = excluded.version, "
                "last_seen = excluded.last_seen",
                (replica, host, pid, version),
            )

    def lost(self, replica: str) -> None:
        """Count a lease *replica* lost (shown by ``rotator status`` and ``/metrics``)."""
        with self._db.transaction():
            self._db.execute(
                "UPDATE replicas SET leases_lost = leases_lost + 1 WHERE id = ?", (replica,)
            )

    def forget(self, replica: str) -> None:
        """A replica that stops cleanly leaves the list (its leases are released by then)."""
        with self._db.transaction():
            self._db.execute("DELETE FROM replicas WHERE id = ?", (replica,))

    def replicas(self, *, seen_within: timedelta | None = None) -> list[Replica]:
        """The replicas with a heartbeat (within *seen_within*, if given), newest first."""
        query = "SELECT id, host, pid, version, started_at, last_seen, leases_lost FROM replicas"
        params: tuple[object, ...] = ()
        if seen_within is not None:
            query += f" WHERE last_seen > {self._now} - ?"
            params = (_ms(seen_within),)
        return [
            Replica(
                str(row[0]),
                str(row[1]),
                int(row[2]),
                str(row[3]),
                from_ms(row[4]),
                from_ms(row[5]),
                int(row[6]),
            )
            for row in self._db.execute(query + " ORDER BY last_seen DESC, id", params)
        ]

    def prune_replicas(self, older_than: timedelta) -> int:
        """Forget replicas silent for longer than *older_than*."""
        with self._db.transaction():
            return self._db.execute(
                f"DELETE FROM replicas WHERE last_seen < {self._now} - ?",  # noqa: S608
                (_ms(older_than),),
            ).rowcount
