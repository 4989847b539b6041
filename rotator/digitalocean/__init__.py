"""Everything rotator says to DigitalOcean goes through this package.

``tokens`` recognises a token by its shape; ``client`` sends requests within
each token's rate budget (``budget``) with retries (``retry``), counting them
(``stats``);
``models`` reads account and token-info answers; ``account`` turns
``GET /v2/account`` into a valid / invalid / unknown verdict.
"""

from rotator.digitalocean.account import Validation, validate
from rotator.digitalocean.budget import Admission, RateBudget, RateWait, Reservation
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.models import Account, TokenInfo
from rotator.digitalocean.ratelimit import Pacer
from rotator.digitalocean.retry import RetryPolicy
from rotator.digitalocean.stats import ClientStats
from rotator.digitalocean.tokens import ApiToken, parse_token

__all__ = [
    "Account",
    "Admission",
    "ApiToken",
    "ClientStats",
    "DigitalOceanClient",
    "Pacer",
    "RateBudget",
    "RateWait",
    "Reservation",
    "RetryPolicy",
    "TokenInfo",
    "Validation",
    "parse_token",
    "validate",
]
