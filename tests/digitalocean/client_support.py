"""Shared pieces for the DigitalOcean client's tests (fixtures: conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

from rotator.digitalocean.client import DigitalOceanClient

API = "https://api.digitalocean.com"
OAUTH = "https://cloud.digitalocean.com"
# A well-formed token nobody holds; tests search every output for it.
CANARY = "dop_v1_" + "c0ffee" * 10 + "cafe"
START = 1_700_000_000.0

MakeClient = Callable[..., DigitalOceanClient]
