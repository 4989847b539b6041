"""The old name of the per-token rate budget, kept for callers that import it.

``Pacer`` used to read only the hourly ``ratelimit-*`` headers, and the
client sent a request regardless once its wait hit the retry budget. Its
job is now done by :class:`rotator.digitalocean.budget.RateBudget`, which
also paces the per-minute burst, admits work before it starts and never
sends a request it has no budget for.
"""

from __future__ import annotations

from rotator.digitalocean.budget import HOUR, RateBudget

WINDOW_SECONDS = HOUR
"""Length of the window ``ratelimit-limit`` counts over (DigitalOcean: an hour)."""

Pacer = RateBudget
"""Deprecated spelling of :class:`~rotator.digitalocean.budget.RateBudget`."""

__all__ = ["WINDOW_SECONDS", "Pacer", "RateBudget"]
