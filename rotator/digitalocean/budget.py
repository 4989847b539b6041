"""One rate budget per token, shared by every job and thread of the process.

DigitalOcean limits each token twice: 250 requests in any minute (the burst
limit, refused with 429 and ``retry-after``) and 5,000 in any hour (reported
on every answer as ``ratelimit-limit``, ``ratelimit-remaining`` and
``ratelimit-reset``, the Unix time at which the oldest request of the hour
expires). Both limits are configurable because DigitalOcean raises them for
some accounts and tests need small ones.

:class:`RateBudget` keeps, per token fingerprint (never the token):

* **the minute**: a bucket of ``requests_per_minute`` tokens, each of which
  comes back 60 s after the answer to the request that spent it. That is the
  exact dual of the server's sliding window, so a process that is the
  token's only user is never refused. A slot whose request is still in
  flight counts as busy until ``in_flight_allowance`` after its start, so a
  slow request cannot make the server see more than the limit in a minute.
* **the hour**: what the last answer reported, minus the requests in flight
  and the calls reserved by admitted work. With nothing reported yet it
  trusts ``requests_per_hour``. Once the reported reset has passed it
  assumes slots come back at the window's average rate (limit per hour)
  until a fresh answer says more.
* **a block**: a 429's ``retry-after`` stops every request of the token until
  it has passed; the server has the last word.

Replicas sharing one store also share each token's limit: with a
:class:`~rotator.digitalocean.shared.SharedLimit` set (``budget.shared``),
:meth:`RateBudget.admit` also reserves the work's calls there once (not per
request), a reservation's release gives back what it did not use there with
the last ``ratelimit-*`` report its requests heard, and a 429 blocks every
replica. This budget stays the fast path that paces each request; when the
shared budget cannot be asked, the work is deferred, never sent unpaced.

Three ways in:

* :meth:`RateBudget.admit` before work starts: a job that needs ``calls``
  requests is either granted (its calls are reserved in the hour, so it
  cannot die half-way for want of budget, with a start delay of at most
  ``max_delay``) or told the time its calls will fit (``not_before``).
* :meth:`RateBudget.acquire` before each request: the start time of one
  request, or a refusal naming ``not_before`` when it is further away than
  the caller may wait. A refusal claims nothing, so nothing is ever sent
  "regardless".
* :meth:`RateBudget.observe` after each answer: corrects the hour from the
  headers, frees the minute slot, records a 429's ``retry-after``.

How long a caller may wait on rate limits is a :class:`RateWait`: a total
for a whole command (the CLI: ``[digitalocean] max_wait``), a cap per
request (the daemon: pacing only, never a wait for a reset), or both; it
and what the budget answers live in :mod:`rotator.digitalocean.waits`.

This module stays one piece past the usual size on purpose: the text above
is the budget's specification, and everything below it shares one lock and
one per-token state.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from rotator.digitalocean.retry import required_wait
from rotator.digitalocean.shared import UNREACHABLE_RETRY, SharedGrant, SharedLimit
from rotator.digitalocean.waits import (
    HOUR,
    MINUTE,
    Admission,
    RateWait,
    Refusal,
    Reservation,
    Ticket,
    clock_time,
    not_before,
    refused_error,
    set_not_before,
)
from rotator.errors import RotatorError

__all__ = [
    "DEFAULT_IN_FLIGHT_ALLOWANCE",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_REQUESTS_PER_HOUR",
    "DEFAULT_REQUESTS_PER_MINUTE",
    "HOUR",
    "MINUTE",
    "Admission",
    "Candidate",
    "RateBudget",
    "RateWait",
    "Refusal",
    "Reservation",
    "Round",
    "Ticket",
    "admit_fairly",
    "clock_time",
    "not_before",
    "refused_error",
    "set_not_before",
]


DEFAULT_REQUESTS_PER_MINUTE = 250
DEFAULT_REQUESTS_PER_HOUR = 5000
DEFAULT_MAX_WAIT = 30.0
"""Seconds a CLI command may wait on rate limits in all (``[digitalocean] max_wait``)."""
DEFAULT_IN_FLIGHT_ALLOWANCE = 10.0
"""Seconds a request may take to reach the server (the client's default timeout)."""

log = logging.getLogger("rotator.digitalocean.budget")


# -- the budget itself --------------------------------------------------------------------


@dataclass
class _Token:
    """Everything the budget knows about one token."""

    minute_free: list[float]
    minute_owner: list[int]
    limit: int
    remaining: int | None = None
    reset: float = 0.0
    in_flight: int = 0
    reserved: int = 0
    blocked_until: float = 0.0
    last_used: float = 0.0
    reported_by: int = 0
    unshared: tuple[int, float] | None = None  # a report not yet written to the shared budget


class RateBudget:
    """Per-token rate budgets, shared by every client, job and thread; thread-safe.

    Keys are token fingerprints. *requests_per_minute* and
    *requests_per_hour* mirror ``[digitalocean] requests_per_minute`` and
    ``requests_per_hour``; a ``ratelimit-limit`` header overrides the hourly
    one for its token. *reserve* hourly calls are never handed out (left for
    the operator's own tools).
    """

    _PRUNE_AT = 1024

    def __init__(
        self,
        requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
        requests_per_hour: int = DEFAULT_REQUESTS_PER_HOUR,
        *,
        reserve: int = 0,
        in_flight_allowance: float = DEFAULT_IN_FLIGHT_ALLOWANCE,
    ) -> None:
        if requests_per_minute < 1 or requests_per_hour < 1:
            raise ValueError("rate limits must allow at least one request")
        if reserve < 0:
            raise ValueError("the reserve must not be negative")
        if in_flight_allowance < 0:
            raise ValueError("the in-flight allowance must not be negative")
        self.requests_per_minute = requests_per_minute
        self.requests_per_hour = requests_per_hour
        self._reserve = reserve
        self._allowance = in_flight_allowance
        self._tokens: dict[str, _Token] = {}
        self._serial = 0
        self._lock = threading.Lock()
        self.shared: SharedLimit | None = None
        """The budget other processes share (replicas on one store); None: this process only."""

    def __repr__(self) -> str:
        return (
            f"RateBudget(requests_per_minute={self.requests_per_minute}, "
            f"requests_per_hour={self.requests_per_hour}, reserve={self._reserve})"
        )

    # -- admission ------------------------------------------------------------

    def admit(self, key: str, calls: int, now: float, *, max_delay: float = 0.0) -> Admission:
        """Admit work that needs *calls* requests of token *key*, or say when it fits.

        Granted when the calls fit in the hour and the minute has a free slot
        within *max_delay* seconds: the calls are then reserved (see
        :class:`Reservation`). Refused otherwise, with the earliest time they
        fit; nothing is reserved.
        """
        if calls < 0:
            raise ValueError("calls must not be negative")
        with self._lock:
            token = self._token(key, now)
            start = max(now, token.blocked_until, min(token.minute_free))
            if calls:
                start = max(start, self._hour_fits(token, calls, now))
            if start - now > max_delay:
                return Admission(key, calls, False, start, start - now, None)
            token.reserved += calls
            reservation = Reservation(self, key, calls)
        if self.shared is not None and calls:
            grant = self._reserve_shared(key, calls)
            if not grant.granted:
                with self._lock:
                    token.reserved = max(0, token.reserved - reservation._left)
                    reservation._left = 0
                fits = max(start, now + grant.wait)
                return Admission(key, calls, False, fits, fits - now, None)
            reservation._shared = grant.mark
        return Admission(key, calls, True, start, start - now, reservation)

    def _reserve_shared(self, key: str, calls: int) -> SharedGrant:
        """Reserve *calls* in the shared budget (refused while it cannot be reached)."""
        assert self.shared is not None
        try:
            return self.shared.reserve(key, calls)
        except RotatorError as exc:  # the store is unreachable: defer, never send unpaced
            log.warning(
                "shared rate budget of token %s not reachable (%s); work waits %.0fs",
                key,
                str(exc) or type(exc).__name__,
                UNREACHABLE_RETRY,
            )
            return SharedGrant(False, UNREACHABLE_RETRY)

    def _adjust(self, reservation: Reservation, calls: int, now: float | None) -> bool:
        key = reservation.key
        with self._lock:
            token = self._tokens.get(key)
            if token is None:  # pruned: nothing is held for it any more
                reservation._left = 0
                return calls == 0
            extra = calls - reservation._left
            if extra > 0 and now is not None and self._hour_fits(token, extra, now) > now:
                return False
            token.reserved = max(0, token.reserved + extra)
            reservation._left = calls
            # What the shared budget holds for it follows, outside the lock (a round trip).
            mark = reservation._shared
            shared = self.shared if mark is not None else None
            report = None
            if shared is not None and calls == 0:
                report, token.unshared = token.unshared, None
        if shared is None or mark is None:
            return True
        if extra > 0:
            # Taken in a later slot: given back with the first grant's (conservative).
            if self._reserve_shared(key, extra).granted:
                return True
            with self._lock:  # the shared budget has no room: take back the local change
                token.reserved = max(0, token.reserved - extra)
                reservation._left -= extra
            return False
        if extra < 0 or report is not None:
            self._release_shared(key, -extra, mark, report)
        return True

    def _release_shared(
        self, key: str, calls: int, mark: int, report: tuple[int, float] | None
    ) -> None:
        assert self.shared is not None
        try:
            self.shared.release(key, calls, mark, report)
        except RotatorError as exc:  # they count until their slot leaves the minute
            log.warning(
                "shared rate budget of token %s not reachable (%s); %d unused calls "
                "count until they leave its minute",
                key,
                str(exc) or type(exc).__name__,
                calls,
            )

    # -- one request ------------------------------------------------------------

    def acquire(
        self,
        key: str,
        now: float,
        *,
        max_wait: float = math.inf,
        reservation: Reservation | None = None,
    ) -> Ticket | Refusal:
        """Claim the next request of token *key*: a :class:`Ticket` or a :class:`Refusal`.

        The ticket's ``delay`` (at most *max_wait*) is how long to wait before
        sending; pass the ticket to :meth:`observe` once the request is over.
        A refusal claims nothing.
        """
        with self._lock:
            token = self._token(key, now)
            slot = min(range(len(token.minute_free)), key=token.minute_free.__getitem__)
            reserved = reservation is not None and reservation.key == key and reservation._left > 0
            start = max(now, token.blocked_until, token.minute_free[slot])
            if not reserved:
                start = max(start, self._hour_fits(token, 1, now))
            if start - now > max_wait:
                return Refusal(key, start)
            self._serial += 1
            token.minute_free[slot] = start + MINUTE + self._allowance
            token.minute_owner[slot] = self._serial
            token.in_flight += 1
            token.last_used = start
            if reserved and reservation is not None:
                reservation._left -= 1
                token.reserved = max(0, token.reserved - 1)
            return Ticket(key, start, start - now, slot, self._serial)

    def observe(
        self, ticket: Ticket, headers: Mapping[str, str] | None, now: float, *, status: int = 0
    ) -> None:
        """Record how the request of *ticket* ended.

        *headers* are the answer's (None: no answer came back). The
        ``ratelimit-*`` headers replace what the hour knew; a 429's
        ``retry-after`` (or ``ratelimit-reset``) blocks the token until then.
        """
        with self._lock:
            # The server saw the request (if at all) before now; a 429 was
            # refused before it counted, so its slot is free again.
            token = self._settle(ticket, now if status == 429 else now + MINUTE)
            if token is None:
                return
            report = _report(headers or {})
            if report is not None:
                limit, remaining, reset = report
                token.limit = limit
                # Answers of concurrent requests arrive in any order: one to a
                # request sent before the one that last reported, saying more
                # is left, is older news.
                older = (
                    token.remaining is not None
                    and ticket._serial < token.reported_by
                    and now < token.reset
                    and remaining > token.remaining
                )
                if not older:
                    token.remaining, token.reset = remaining, reset
                    token.reported_by = ticket._serial
                    token.unshared = (remaining, reset)
            elif token.remaining is not None:
                token.remaining = max(0, token.remaining - 1)  # it may have counted
            wait = None
            if status == 429 and headers is not None:
                wait = required_wait(headers, now)
                if wait is not None:
                    token.blocked_until = max(token.blocked_until, now + wait)
        if wait is not None and self.shared is not None:
            try:
                self.shared.block(ticket.key, wait)
            except RotatorError as exc:  # this process still waits; the others learn on their own
                log.warning(
                    "shared rate budget of token %s not reachable (%s)",
                    ticket.key,
                    str(exc) or type(exc).__name__,
                )

    def cancel(self, ticket: Ticket) -> None:
        """Give back *ticket*, whose request was never sent (its wait was interrupted).

        A call it drew from a reservation goes back to the token, not to the
        reservation.
        """
        with self._lock:
            self._settle(ticket, ticket.start)

    def _settle(self, ticket: Ticket, free_at: float) -> _Token | None:
        """Under the lock: *ticket*'s request is over, its minute slot free from *free_at*."""
        token = self._tokens.get(ticket.key)
        if token is None:
            return None
        token.in_flight = max(0, token.in_flight - 1)
        if token.minute_owner[ticket._slot] == ticket._serial:
            token.minute_free[ticket._slot] = free_at
        return token

    def close(self) -> None:
        """Let go of the shared budget's connection (made again when next needed)."""
        if self.shared is not None:
            self.shared.close()

    # -- what it knows --------------------------------------------------------------

    def not_before(self, key: str, calls: int, now: float) -> float:
        """The earliest time *calls* requests of token *key* fit (no reservation made)."""
        with self._lock:
            token = self._token(key, now)
            start = max(now, token.blocked_until, min(token.minute_free))
            return max(start, self._hour_fits(token, calls, now)) if calls else start

    def knows(self, key: str, now: float) -> bool:
        """Whether an answer has reported token *key*'s hour and its reset is still ahead."""
        with self._lock:
            token = self._tokens.get(key)
            return token is not None and token.remaining is not None and now < token.reset

    def hour_left(self, key: str, now: float) -> int:
        """Hourly calls of token *key* free for new work now (reservations deducted)."""
        with self._lock:
            token = self._token(key, now)
            return max(0, math.floor(self._hour_free(token, now)))

    def reset_time(self, key: str, now: float) -> float:
        """When the token's hourly window last said a slot frees (*now* if unknown)."""
        with self._lock:
            token = self._tokens.get(key)
            if token is None or token.remaining is None:
                return now
            return token.reset

    # -- internals ---------------------------------------------------------------------

    def _token(self, key: str, now: float) -> _Token:
        token = self._tokens.get(key)
        if token is None:
            if len(self._tokens) >= self._PRUNE_AT:
                self._prune(now)
            size = self.requests_per_minute
            token = _Token([0.0] * size, [0] * size, self.requests_per_hour)
            self._tokens[key] = token
        return token

    def _hour_base(self, token: _Token, now: float) -> float:
        """Calls the server would allow now, before our in-flight and reserved ones."""
        if token.remaining is None:
            return float(token.limit)
        if now < token.reset:
            return float(token.remaining)
        # Past the reset: one slot freed then, the rest at the window's average rate.
        freed = 1.0 + (now - token.reset) * token.limit / HOUR
        return min(float(token.limit), token.remaining + freed)

    def _hour_free(self, token: _Token, now: float) -> float:
        return self._hour_base(token, now) - token.in_flight - token.reserved - self._reserve

    def _hour_fits(self, token: _Token, calls: int, now: float) -> float:
        """The earliest time *calls* more requests fit in the hour."""
        if self._hour_free(token, now) >= calls:
            return now
        if token.remaining is None:
            # Only our own in-flight and reserved calls stand in the way.
            return now + HOUR
        need = calls + token.in_flight + token.reserved + self._reserve
        later = token.reset + max(0, need - token.remaining - 1) * HOUR / token.limit
        return max(now, later)

    def _prune(self, now: float) -> None:
        idle = [
            key
            for key, token in self._tokens.items()
            if token.in_flight == 0
            and token.reserved == 0
            and token.last_used < now - HOUR
            and token.blocked_until <= now
        ]
        for key in idle:
            del self._tokens[key]


def _report(headers: Mapping[str, str]) -> tuple[int, int, float] | None:
    limit = _integer(headers.get("ratelimit-limit"))
    remaining = _integer(headers.get("ratelimit-remaining"))
    reset = _integer(headers.get("ratelimit-reset"))
    if limit is None or remaining is None or reset is None or limit < 1:
        return None
    return limit, max(remaining, 0), float(reset)


def _integer(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


# -- fair sharing ---------------------------------------------------------------------

Item = TypeVar("Item")


@dataclass(frozen=True)
class Candidate(Generic[Item]):
    """Work that wants to run: its token, the calls it needs and when it fell due."""

    item: Item
    key: str
    calls: int
    due: float


@dataclass
class Round(Generic[Item]):
    """What :func:`admit_fairly` decided: what runs now and what waits until when."""

    admitted: list[tuple[Item, Admission]] = field(default_factory=list)
    deferred: list[tuple[Item, float]] = field(default_factory=list)


def admit_fairly(
    budget: RateBudget,
    candidates: Iterable[Candidate[Item]],
    now: float,
    *,
    max_delay: float = 0.0,
    limit: int | None = None,
) -> Round[Item]:
    """Admit due work oldest-due first, without letting small items starve big ones.

    Candidates are taken in order of ``due`` (then as given). Once one item
    of a token does not fit, every later item of that token waits too (with
    the same ``not_before`` or later), so a stream of cheap items cannot
    overtake an expensive one for ever. At most *limit* items are admitted
    (the free workers); the rest are deferred to *now*.
    """
    ordered: Sequence[Candidate[Item]] = sorted(candidates, key=lambda c: c.due)
    result: Round[Item] = Round()
    blocked: dict[str, float] = {}
    for candidate in ordered:
        if limit is not None and len(result.admitted) >= limit:
            result.deferred.append((candidate.item, now))
            continue
        if candidate.key in blocked:
            result.deferred.append((candidate.item, blocked[candidate.key]))
            continue
        admission = budget.admit(candidate.key, candidate.calls, now, max_delay=max_delay)
        if admission.granted:
            result.admitted.append((candidate.item, admission))
        else:
            blocked[candidate.key] = admission.not_before
            result.deferred.append((candidate.item, admission.not_before))
    return result
