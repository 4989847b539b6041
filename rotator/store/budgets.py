"""The rate budget of each DigitalOcean token, shared by every replica through the store.

Each replica paces its own requests (:class:`rotator.digitalocean.budget.RateBudget`);
without more, *n* replicas on one token would spend *n* times the token's limit.
So before a replica starts a piece of work (about ten calls), it *reserves*
those calls here, in one row per token fingerprint (never the token). Every
decision is one statement by the database's clock
(:attr:`~rotator.store.database.Database.now_sql`), as leases are, so the
replicas' clocks play no part.

The row holds:

- **the minute**: DigitalOcean counts requests in a sliding minute, so the
  row counts the calls granted in each 5-second slot: ``m0`` the slot
  ``minute_slot`` (``now / 5 s``), ``m1`` the slot before, … ``m12``. A grant
  needs the current slot and the twelve before it (60 to 65 s) plus
  the new calls to stay within ``requests_per_minute``, so any minute's
  grants do: a whole minute's limit may go at once after a quiet spell, and
  a busy token gets about 60/65 of its limit. (A token bucket cannot do
  both: its burst plus a minute's refill must stay within the limit.)
- **the hour** (``hour_tokens``): a bucket refilling at ``requests_per_hour``
  an hour as of ``updated_at``, never holding more than the last
  ``ratelimit-remaining`` DigitalOcean reported (``hour_reset`` keeps the
  ``ratelimit-reset`` that came with it).
- **a block** (``blocked_until``): a 429's ``retry-after``, or a reported
  hour with nothing left until its reset; nothing is granted before it.

The statements:

- **reserve** *n*: ``INSERT … ON CONFLICT (key) DO UPDATE SET m0 = <m0 shifted
  to now> + n, m1 = <m1 shifted>, …, minute_slot = now / 5 s, hour_tokens =
  <refilled> - n WHERE blocked_until <= now AND <sum shifted> + n <= limit AND
  <hour refilled> >= n RETURNING minute_slot``. A row back: granted, in that
  slot (a new token's row is made with *n* in it). None: a second statement
  reads the row and :meth:`Budgets.reserve` says how long until *n* calls
  fit. An item larger than the whole limit waits for an empty minute.
- **release** *n*: unused reserved calls go back to the slot they were taken
  in (if it still counts) and to the hour.
- **report** / **block**: DigitalOcean's answers, written so every replica
  sees them.

A replica that dies holding a reservation never releases it: its unused
calls stay counted until their slot leaves the minute (at most 65 s); the
hour refills at its own rate. Nothing else leaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from rotator.store.database import Database

SLOT_MS = 5_000
"""The minute is counted in slots of this many milliseconds."""
SLOTS = 13
"""Slots a grant counts: the current one and the twelve before it (60 to 65 s)."""
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Limits:
    """A token's limits (from ``[digitalocean]``)."""

    per_minute: int
    per_hour: int

    @property
    def hour_rate(self) -> float:
        """Calls a millisecond the hour's bucket refills."""
        return self.per_hour / HOUR_MS


@dataclass(frozen=True)
class Reserved:
    """The answer to :meth:`Budgets.reserve`: granted (in slot ``mark``), or the wait."""

    granted: bool
    wait: timedelta = timedelta(0)
    mark: int = 0


@dataclass(frozen=True)
class BudgetRow:
    """A token's shared budget as of now (by the database's clock)."""

    key: str
    minute_used: int
    """Calls granted in the slots a grant counts now."""
    hour_tokens: float
    blocked_for: timedelta
    hour_reset: int | None


class Budgets:
    """Reserve, give back and correct the shared rate budget of each token."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._now = db.now_sql
        self._least, self._greatest = (
            ("LEAST", "GREATEST") if db.dialect == "postgresql" else ("MIN", "MAX")
        )
        self._slot = f"({self._now} / {SLOT_MS})"

    # -- the SQL the statements share ------------------------------------------------

    def _shifted(self, index: int) -> str:
        """Slot ``m<index>`` as of now: the row's slots moved on by the slots since."""
        moved = f"({self._slot} - rate_budgets.minute_slot)"
        branches = " ".join(f"WHEN {j} THEN rate_budgets.m{index - j}" for j in range(index + 1))
        return f"(CASE {moved} {branches} ELSE 0 END)"

    def _window(self) -> str:
        return "(" + " + ".join(self._shifted(i) for i in range(SLOTS)) + ")"

    def _hour(self) -> str:
        """The hour's bucket now, refilled (params: cap, rate)."""
        return (
            f"{self._least}(?, rate_budgets.hour_tokens + "
            f"({self._now} - rate_budgets.updated_at) * ?)"
        )

    # -- the statements ------------------------------------------------------------------

    def reserve(self, key: str, calls: int, limits: Limits) -> Reserved:
        """Take *calls* from token *key*'s budget now, or say how long until they fit."""
        if calls < 0:
            raise ValueError("calls must not be negative")
        need = min(calls, limits.per_minute)  # larger than the limit: an empty minute
        hour = (float(limits.per_hour), limits.hour_rate)
        shifts = ", ".join(f"m{i} = {self._shifted(i)}" for i in range(1, SLOTS))
        row = self._db.execute(
            "INSERT INTO rate_budgets "  # noqa: S608
            "(key, minute_slot, m0, hour_tokens, updated_at, blocked_until) "
            f"VALUES (?, {self._slot}, ?, ?, {self._now}, 0) ON CONFLICT (key) DO UPDATE SET "
            f"m0 = {self._shifted(0)} + ?, {shifts}, minute_slot = {self._slot}, "
            f"hour_tokens = {self._hour()} - ?, updated_at = {self._now} "
            f"WHERE rate_budgets.blocked_until <= {self._now} "
            f"AND {self._window()} + ? <= ? AND {self._hour()} >= ? RETURNING minute_slot",
            (
                key,
                calls,
                float(limits.per_hour) - calls,
                calls,
                *hour,
                calls,
                need,
                limits.per_minute,
                *hour,
                calls,
            ),
        ).fetchone()
        if row is not None:
            return Reserved(True, mark=int(row[0]))
        return Reserved(False, self._wait(key, calls, limits))

    def _wait(self, key: str, calls: int, limits: Limits) -> timedelta:
        """How long until *calls* fit in token *key*'s budget (read, not reserved)."""
        slots = ", ".join(self._shifted(i) for i in range(SLOTS))
        row = self._db.execute(
            f"SELECT {slots}, {self._slot}, {self._now}, {self._hour()}, "  # noqa: S608
            f"rate_budgets.blocked_until - {self._now} FROM rate_budgets WHERE key = ?",
            (float(limits.per_hour), limits.hour_rate, key),
        ).fetchone()
        if row is None:  # deleted meanwhile: try again shortly
            return timedelta(seconds=1)
        counts = [int(value) for value in row[:SLOTS]]
        slot, now = int(row[SLOTS]), int(row[SLOTS + 1])
        hour_tokens, blocked = float(row[SLOTS + 2]), int(row[SLOTS + 3])
        need = min(calls, limits.per_minute)
        waits = [float(blocked), 1.0]
        for ahead in range(SLOTS + 1):
            # `ahead` slots from now, the oldest `ahead` slots no longer count.
            if sum(counts[: SLOTS - ahead]) + need <= limits.per_minute:
                waits.append(float((slot + ahead) * SLOT_MS - now) if ahead else 0.0)
                break
        if hour_tokens < calls:
            waits.append((calls - hour_tokens) / limits.hour_rate)
        return timedelta(milliseconds=math.ceil(max(waits)))

    def release(self, key: str, calls: int, mark: int, limits: Limits) -> None:
        """Give back *calls* reserved in slot *mark* and never sent."""
        if calls <= 0:
            return
        slots = ", ".join(
            f"m{i} = CASE WHEN minute_slot - ? = {i} "
            f"THEN {self._greatest}(0, m{i} - ?) ELSE m{i} END"
            for i in range(SLOTS)
        )
        self._db.execute(
            f"UPDATE rate_budgets SET {slots}, "  # noqa: S608
            f"hour_tokens = {self._least}(?, {self._hour()} + ?), updated_at = {self._now} "
            "WHERE key = ?",
            (
                *[value for _ in range(SLOTS) for value in (mark, calls)],
                float(limits.per_hour),
                float(limits.per_hour),
                limits.hour_rate,
                calls,
                key,
            ),
        )

    def report(self, key: str, remaining: int, reset: float, limits: Limits) -> None:
        """DigitalOcean said *remaining* calls are left in the hour until *reset* (Unix time).

        The hour's bucket holds no more than that (other replicas' reserved
        calls are not in DigitalOcean's count yet, so it is never raised by a
        report); with nothing left, nothing is granted before the reset.
        """
        reset_ms = int(reset * 1000)
        block = reset_ms if remaining <= 0 else 0
        with self._db.transaction():
            self._ensure(key, limits)
            self._db.execute(
                f"UPDATE rate_budgets SET hour_tokens = {self._least}({self._hour()}, ?), "  # noqa: S608
                f"hour_reset = ?, updated_at = {self._now}, "
                f"blocked_until = {self._greatest}(blocked_until, ?) WHERE key = ?",
                (float(limits.per_hour), limits.hour_rate, float(remaining), reset_ms, block, key),
            )

    def block(self, key: str, seconds: float, limits: Limits) -> None:
        """A 429 said to wait *seconds*: no replica is granted calls of *key* before then."""
        wait_ms = max(0, math.ceil(seconds * 1000))
        with self._db.transaction():
            self._ensure(key, limits)
            self._db.execute(
                "UPDATE rate_budgets SET "  # noqa: S608
                f"blocked_until = {self._greatest}(blocked_until, {self._now} + ?) WHERE key = ?",
                (wait_ms, key),
            )

    def _ensure(self, key: str, limits: Limits) -> None:
        """Make token *key*'s row (nothing granted yet, the hour full) unless it has one."""
        self._db.execute(
            "INSERT INTO rate_budgets "  # noqa: S608
            "(key, minute_slot, hour_tokens, updated_at, blocked_until) "
            f"VALUES (?, {self._slot}, ?, {self._now}, 0) ON CONFLICT (key) DO NOTHING",
            (key, float(limits.per_hour)),
        )

    def get(self, key: str, limits: Limits) -> BudgetRow | None:
        """Token *key*'s budget as of now (None: no replica has used it yet)."""
        row = self._db.execute(
            f"SELECT {self._window()}, {self._hour()}, "  # noqa: S608
            f"rate_budgets.blocked_until - {self._now}, hour_reset "
            "FROM rate_budgets WHERE key = ?",
            (float(limits.per_hour), limits.hour_rate, key),
        ).fetchone()
        if row is None:
            return None
        return BudgetRow(
            key,
            int(row[0]),
            float(row[1]),
            timedelta(milliseconds=max(0, int(row[2]))),
            None if row[3] is None else int(row[3]),
        )
