"""Admit a piece of work against its client's rate budget before it starts.

A process that has not yet heard from DigitalOcean about a token knows
nothing of its hour: another tool may have spent it. So before admitting
work for such a token, :func:`admit` spends one cheap call
(``GET /v2/account``, scope ``account:read``, which every connection holds)
to read the ``ratelimit-*`` headers, then asks the budget. A granted
admission is attached to the client, so its requests draw on the calls held
for them.
"""

from __future__ import annotations

from rotator.digitalocean.budget import Admission
from rotator.digitalocean.client import DigitalOceanClient


def admit(
    client: DigitalOceanClient, calls: int, *, max_delay: float = 0.0, look: bool = True
) -> Admission:
    """Reserve *calls* requests of *client*'s token for the work about to start.

    Granted: the reservation is set on the client (``client.reservation``);
    release it when the work ends (``with admission.reservation:``).
    Refused: ``not_before`` says when the calls fit; nothing is reserved.
    *look* (default) reads the token's hour first when the budget does not
    know it; that call may raise :class:`~rotator.errors.RateLimited` or any
    other client error.
    """
    budget, key = client.budget, client.fingerprint
    if look and not budget.knows(key, client.now()):
        client.request("GET", "/v2/account")
    admission = budget.admit(key, calls, client.now(), max_delay=max_delay)
    if admission.reservation is not None:
        client.reservation = admission.reservation
    return admission
