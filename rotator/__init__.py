"""rotator: keeps DigitalOcean credentials healthy.

Validates and audits API tokens, rotates Spaces access keys without downtime,
pushes fresh keys into App Platform and Vault, and alerts operators.
"""

__version__ = "0.1.0"
