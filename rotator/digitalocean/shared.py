"""A rate budget several processes share: what :class:`~rotator.digitalocean.budget.RateBudget`
asks of it.

One process paces its own requests with its :class:`RateBudget`. Replicas
sharing one store (PostgreSQL) also share each token's limit: the store keeps
one row per token (:mod:`rotator.store.budgets`), and a :class:`SharedLimit`
(the services layer makes one over the store) is how the budget reaches it.
It is asked once per admitted piece of work (about ten calls), never per
request:

- :meth:`SharedLimit.reserve` when work is admitted: a :class:`SharedGrant`,
  granted or with the seconds until the calls fit;
- :meth:`SharedLimit.release` when the work ends: the calls it did not use
  (where the grant took them), and the last ``ratelimit-*`` report its
  requests heard;
- :meth:`SharedLimit.block` on a 429: every process waits its ``retry-after``.

Any of them may raise :class:`~rotator.errors.RotatorError` (the database is
unreachable, a :class:`~rotator.errors.StoreError`): the budget then defers
the work (:data:`UNREACHABLE_RETRY`) rather than send it unpaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

UNREACHABLE_RETRY = 30.0
"""Seconds an item waits when the shared budget cannot be asked (the store is unreachable)."""


@dataclass(frozen=True)
class SharedGrant:
    """The shared budget's answer to a reservation."""

    granted: bool
    wait: float = 0.0
    """Refused: seconds until the calls fit."""
    mark: int = 0
    """Granted: where the calls were taken (unused ones are given back there)."""


class SharedLimit(Protocol):
    """Each token's rate budget as every process sharing it sees it (keys: fingerprints)."""

    def reserve(self, key: str, calls: int) -> SharedGrant:
        """Take *calls* now, or say how long until they fit."""
        ...

    def release(self, key: str, calls: int, mark: int, report: tuple[int, float] | None) -> None:
        """Give back *calls* granted at *mark* and never sent; *report* is the last
        ``(remaining, reset)`` heard."""
        ...

    def block(self, key: str, seconds: float) -> None:
        """A 429 said to wait *seconds*: nobody is granted calls of *key* before then."""
        ...

    def close(self) -> None:
        """Let go of the connection (it is made again when next needed)."""
        ...
