"""A fleet in the sandbox: N policies, each its own Spaces key and App Platform app, one token."""

from __future__ import annotations

import copy
from pathlib import Path

from rotator.sandbox import Sandbox


def make_fleet(sandbox: Sandbox, size: int) -> list[tuple[str, str, str]]:
    """Create *size* keys and apps; return ``(policy, key name, app id)`` for each."""
    template = sandbox.app(sandbox.app_ids()[0])["spec"]
    fleet = []
    for n in range(size):
        name = f"p{n:03d}"
        sandbox.add_spaces_key(f"fleet-{name}", [{"bucket": "", "permission": "fullaccess"}])
        spec = copy.deepcopy(template)
        spec["name"] = f"fleet-{name}"
        for service in spec.get("services", []):
            service["envs"] = [e for e in service.get("envs", []) if "EV[" not in str(e)]
        fleet.append((name, f"fleet-{name}", sandbox.add_app(spec)))
    return fleet


def fleet_config(
    fleet: list[tuple[str, str, str]],
    *,
    per_minute: int,
    per_hour: int = 5000,
    concurrency: int = 8,
    every: str = "1h",
    grace: str = "1h",
    deploy_timeout: str = "15m",
) -> str:
    """The config: hourly validation and audit, the fleet's policies, the given limits."""
    parts = [
        f"""
[daemon]
validate_every = "1h"
audit_every = "1h"
concurrency = {concurrency}

[digitalocean]
retries = 1
timeout = "5s"
requests_per_minute = {per_minute}
requests_per_hour = {per_hour}
"""
    ]
    for name, key, app_id in fleet:
        parts.append(f"""
[[policies]]
name = "{name}"
connection = "prod"
spaces_key = "{key}"
every = "{every}"
grace = "{grace}"

[[policies.sinks]]
type = "app_platform"
app_id = "{app_id}"
component = "web"
access_key_env = "SPACES_KEY"
secret_key_env = "SPACES_SECRET"
deploy_timeout = "{deploy_timeout}"
""")
    return "".join(parts)


def write(path: Path, text: str) -> None:
    path.write_text(text)
