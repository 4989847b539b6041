"""The rate budget of each DigitalOcean token, shared by every replica through the store.

Each replica paces its own requests (:class:`rotator.digitalocean.budget.RateBudget`);
without more, *n* replicas on one token would spend *n* times the token's limit.
So before a replica starts a piece of work (about ten calls), it *reserves*
those calls here, in one row per token fingerprint (never the token). Every
decision is one statement by the database's clock
(:attr:`~rotator.store.database.Database.now_sql`), as leases are, so the
replicas' clocks play no part.

The row holds two token buckets as of ``updated_at`` (ms since the epoch):

- **the minute** (``tokens``): refills at ``rate`` calls a millisecond up to
  ``burst``. DigitalOcean counts requests in a sliding minute; a bucket lets
  through ``burst + 60 s * rate`` calls in any minute, so :class:`Limits`
  keeps that sum at ``requests_per_minute``: the refill is
  ``requests_per_minute - burst`` a minute. A bucket of the whole limit
  refilling at the whole limit would let twice the limit through in the
  first minute of a busy fleet.
- **the hour** (``hour_tokens``): refills at ``requests_per_hour`` an hour,
  and never holds more than the last ``ratelimit-remaining`` DigitalOcean
  reported (``hour_reset`` keeps the ``ratelimit-reset`` that came with it).
- **a block** (``blocked_until``): a 429's ``retry-after``, or a reported
  hour with nothing left until its reset; nothing is granted before it.

The statements:

- **reserve** *n*: ``INSERT … ON CONFLICT (key) DO UPDATE SET tokens =
  LEAST(burst, tokens + elapsed * rate) - n, … WHERE blocked_until <= now AND
  LEAST(…) >= LEAST(n, burst) AND <the hour likewise> RETURNING tokens``. A row
  back: granted (a new token's row is made full, minus *n*). None: a second
  statement reads the row and :meth:`Budgets.reserve` says how long until *n*
  calls fit. An item larger than the burst (an audit: ~37 calls) waits for a
  full bucket and leaves it in debt, so nothing else goes until the refill has
  paid for it: it is never starved by smaller items, and the minute is
  exceeded by at most its excess over the burst.
- **release** *n*: unused reserved calls go back into both buckets.
- **report** / **block**: DigitalOcean's answers, written so every replica
  sees them.

A replica that dies holding a reservation never releases it: those calls
stay spent until the buckets refill (at most ``burst`` calls of the minute,
a minute's refill; the hour refills at its own rate). Nothing else leaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from rotator.store.database import Database

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
LARGEST_ITEM = 10
"""Calls the costliest admitted item asks for at once (a rotation): the minute's burst
holds at least that many, so such an item can be granted at all."""


@dataclass(frozen=True)
class Limits:
    """A token's limits as the buckets use them (from ``[digitalocean]``)."""

    per_minute: int
    per_hour: int

    @property
    def burst(self) -> float:
        """The minute bucket's size: a tenth of the limit, at least one item, at most half."""
        wanted = max(math.ceil(self.per_minute / 10), LARGEST_ITEM)
        return float(max(1, min(wanted, self.per_minute // 2)))

    @property
    def rate(self) -> float:
        """Calls a millisecond the minute refills: ``burst + a minute's refill = the limit``."""
        return max(self.per_minute - self.burst, 1.0) / MINUTE_MS

    @property
    def hour_rate(self) -> float:
        return self.per_hour / HOUR_MS


@dataclass(frozen=True)
class Reserved:
    """The answer to :meth:`Budgets.reserve`: granted, or how long until the calls fit."""

    granted: bool
    wait: timedelta = timedelta(0)


@dataclass(frozen=True)
class BudgetRow:
    """A token's shared budget as of now (buckets refilled by the database's clock)."""

    key: str
    tokens: float
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

    # -- the SQL both statements share -----------------------------------------------

    def _minute(self) -> str:
        """The minute's bucket now, refilled (params: cap, rate)."""
        return (
            f"{self._least}(?, rate_budgets.tokens + ({self._now} - rate_budgets.updated_at) * ?)"
        )

    def _hour(self) -> str:
        """The hour's bucket now, refilled (params: cap, rate)."""
        return (
            f"{self._least}(?, rate_budgets.hour_tokens + "
            f"({self._now} - rate_budgets.updated_at) * ?)"
        )

    def _insert(self) -> str:
        """A new token's row: both buckets full (params: key, tokens, hour tokens)."""
        return (
            "INSERT INTO rate_budgets (key, tokens, hour_tokens, updated_at, blocked_until) "  # noqa: S608
            f"VALUES (?, ?, ?, {self._now}, 0) ON CONFLICT (key) DO UPDATE SET "
        )

    # -- the statements ------------------------------------------------------------------

    def reserve(self, key: str, calls: int, limits: Limits) -> Reserved:
        """Take *calls* from token *key*'s budget now, or say how long until they fit."""
        if calls < 0:
            raise ValueError("calls must not be negative")
        minute = (limits.burst, limits.rate)
        # An item larger than the burst goes once the bucket is full and leaves it in
        # debt: nothing else is granted until the refill has paid for its excess.
        need = min(float(calls), limits.burst)
        hour = (float(limits.per_hour), limits.hour_rate)
        row = self._db.execute(
            self._insert() + f"tokens = {self._minute()} - ?, hour_tokens = {self._hour()} - ?, "
            f"updated_at = {self._now} "
            f"WHERE rate_budgets.blocked_until <= {self._now} "
            f"AND {self._minute()} >= ? AND {self._hour()} >= ? RETURNING tokens",
            (
                key,
                limits.burst - calls,
                float(limits.per_hour) - calls,
                *minute,
                calls,
                *hour,
                calls,
                *minute,
                need,
                *hour,
                calls,
            ),
        ).fetchone()
        if row is not None:
            return Reserved(True)
        current = self.get(key, limits)
        if current is None:  # deleted meanwhile: try again later
            return Reserved(False, timedelta(seconds=1))
        waits = [current.blocked_for.total_seconds() * 1000]
        if current.tokens < need:
            waits.append((need - current.tokens) / limits.rate)
        if current.hour_tokens < calls:
            waits.append((calls - current.hour_tokens) / limits.hour_rate)
        wait_ms = max(1.0, *waits)
        return Reserved(False, timedelta(milliseconds=math.ceil(wait_ms)))

    def release(self, key: str, calls: int, limits: Limits) -> None:
        """Give back *calls* reserved and never sent."""
        if calls <= 0:
            return
        self._db.execute(
            f"UPDATE rate_budgets SET tokens = {self._least}(?, {self._minute()} + ?), "  # noqa: S608
            f"hour_tokens = {self._least}(?, {self._hour()} + ?), updated_at = {self._now} "
            "WHERE key = ?",
            (
                limits.burst,
                limits.burst,
                limits.rate,
                calls,
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
                f"UPDATE rate_budgets SET tokens = {self._minute()}, "  # noqa: S608
                f"hour_tokens = {self._least}({self._hour()}, ?), "
                f"hour_reset = ?, updated_at = {self._now}, "
                f"blocked_until = {self._greatest}(blocked_until, ?) WHERE key = ?",
                (
                    limits.burst,
                    limits.rate,
                    float(limits.per_hour),
                    limits.hour_rate,
                    float(remaining),
                    reset_ms,
                    block,
                    key,
                ),
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
        """Make token *key*'s row (both buckets full) unless it has one."""
        self._db.execute(
            "INSERT INTO rate_budgets (key, tokens, hour_tokens, updated_at, blocked_until) "  # noqa: S608
            f"VALUES (?, ?, ?, {self._now}, 0) ON CONFLICT (key) DO NOTHING",
            (key, limits.burst, float(limits.per_hour)),
        )

    def get(self, key: str, limits: Limits) -> BudgetRow | None:
        """Token *key*'s budget as of now (None: no replica has used it yet)."""
        minute = (limits.burst, limits.rate)
        hour = (float(limits.per_hour), limits.hour_rate)
        row = self._db.execute(
            f"SELECT {self._minute()}, {self._hour()}, "  # noqa: S608
            f"rate_budgets.blocked_until - {self._now}, hour_reset "
            "FROM rate_budgets WHERE key = ?",
            (*minute, *hour, key),
        ).fetchone()
        if row is None:
            return None
        return BudgetRow(
            key,
            float(row[0]),
            float(row[1]),
            timedelta(milliseconds=max(0, int(row[2]))),
            None if row[3] is None else int(row[3]),
        )
