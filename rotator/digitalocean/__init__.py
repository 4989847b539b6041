"""Everything rotator says to DigitalOcean goes through this package.

``tokens`` recognises a token by its shape; ``client`` sends requests with
pacing (``ratelimit``) and retries (``retry``), counting them (``stats``);
``models`` reads account and token-info answers; ``account`` turns
``GET /v2/account`` into a valid / invalid / unknown verdict.
"""

from rotator.digitalocean.account import Validation, validate
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.models import Account, TokenInfo
from rotator.digitalocean.ratelimit import Pacer
from rotator.digitalocean.retry import RetryPolicy
from rotator.digitalocean.stats import ClientStats
from rotator.digitalocean.tokens import ApiToken, parse_token

__all__ = [
    "Account",
    "ApiToken",
    "ClientStats",
    "DigitalOceanClient",
    "Pacer",
    "RetryPolicy",
    "TokenInfo",
    "Validation",
    "parse_token",
    "validate",
]
