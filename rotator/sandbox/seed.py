"""The sandbox's starting world: a demo Spaces key, a demo app, and a few of everything.

Droplets, clusters, databases, volumes and domains follow the spec's
schemas (their list endpoints are in the reduced spec and contract tests
validate them); the other families carry the fields a client would look at.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from rotator.sandbox.apps import new_app
from rotator.sandbox.deployments import iso
from rotator.sandbox.spaces import create_key
from rotator.sandbox.state import State, Tenant

DEMO_APP = "demo-app"
DEMO_COMPONENT = "web"
DEMO_KEY = "demo-media"
DEMO_BUCKET = "demo-media"

_REGION = {
    "available": True,
    "features": ["backups", "ipv6", "metadata", "storage"],
    "name": "New York 3",
    "sizes": ["s-1vcpu-1gb", "s-2vcpu-2gb"],
    "slug": "nyc3",
}
_SIZE = {
    "available": True,
    "description": "Basic",
    "disk": 25,
    "memory": 1024,
    "price_hourly": 0.00744,
    "price_monthly": 5.0,
    "regions": ["nyc3", "ams3"],
    "slug": "s-1vcpu-1gb",
    "transfer": 1.0,
    "vcpus": 1,
}


def _droplet(number: int, name: str, created: str) -> dict[str, Any]:
    return {
        "id": 3164400 + number,
        "name": name,
        "memory": 1024,
        "vcpus": 1,
        "disk": 25,
        "locked": False,
        "status": "active",
        "created_at": created,
        "features": ["monitoring"],
        "backup_ids": [],
        "next_backup_window": None,
        "snapshot_ids": [],
        "image": {
            "id": 63663980,
            "name": "24.04 (LTS) x64",
            "distribution": "Ubuntu",
            "slug": "ubuntu-24-04-x64",
            "public": True,
            "regions": ["nyc3"],
            "created_at": created,
            "type": "base",
            "min_disk_size": 20,
            "size_gigabytes": 2.36,
            "status": "available",
            "tags": [],
        },
        "volume_ids": [],
        "size": dict(_SIZE),
        "size_slug": "s-1vcpu-1gb",
        "networks": {
            "v4": [
                {
                    "ip_address": f"203.0.113.{10 + number}",
                    "netmask": "255.255.255.0",
                    "gateway": "203.0.113.1",
                    "type": "public",
                }
            ],
            "v6": [],
        },
        "region": dict(_REGION),
        "tags": ["demo"],
        "kernel": None,
        "vpc_uuid": str(uuid.uuid4()),
    }


def _cluster(created: str) -> dict[str, Any]:
    cluster_id = str(uuid.uuid4())
    return {
        "id": cluster_id,
        "name": "demo-cluster",
        "region": "nyc3",
        "version": "1.31.1-do.0",
        "cluster_subnet": "10.244.0.0/16",
        "service_subnet": "10.245.0.0/16",
        "vpc_uuid": str(uuid.uuid4()),
        "ipv4": "198.51.100.20",
        "endpoint": f"https://{cluster_id}.k8s.ondigitalocean.com",
        "tags": ["demo"],
        "node_pools": [
            {
                "id": str(uuid.uuid4()),
                "name": "pool-1",
                "size": "s-2vcpu-2gb",
                "count": 2,
                "tags": [],
                "labels": None,
                "taints": [],
                "auto_scale": False,
                "min_nodes": 0,
                "max_nodes": 0,
                "nodes": [],
            }
        ],
        "maintenance_policy": {"start_time": "00:00", "duration": "4h0m0s", "day": "any"},
        "auto_upgrade": False,
        "status": {"state": "running", "message": ""},
        "created_at": created,
        "updated_at": created,
        "surge_upgrade": True,
        "registry_enabled": False,
        "ha": False,
    }


def _database(created: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": "demo-db",
        "engine": "pg",
        "version": "16",
        "num_nodes": 1,
        "size": "db-s-1vcpu-1gb",
        "region": "nyc3",
        "status": "online",
        "created_at": created,
        "db_names": ["defaultdb"],
        "tags": None,
        "users": None,
        "storage_size_mib": 10240,
        "connection": {
            "host": "demo-db.db.ondigitalocean.com",
            "port": 25060,
            "database": "defaultdb",
            "user": "doadmin",
            "ssl": True,
        },
    }


def _volume(number: int, created: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": f"demo-volume-{number}",
        "description": "Block storage for the demo",
        "size_gigabytes": 10 * number,
        "droplet_ids": [],
        "region": dict(_REGION),
        "filesystem_type": "ext4",
        "filesystem_label": "",
        "created_at": created,
        "tags": [],
    }


def seed_resources(tenant: Tenant, now: float) -> None:
    """Give an account a few of every generic resource."""
    created = iso(now)
    resources: dict[str, list[dict[str, Any]]] = {
        "droplets": [_droplet(1, "demo-web-1", created), _droplet(2, "demo-web-2", created)],
        "kubernetes_clusters": [_cluster(created)],
        "databases": [_database(created)],
        "volumes": [_volume(1, created), _volume(2, created)],
        "domains": [
            {"name": "example.com", "ttl": 1800, "zone_file": None},
            {"name": "example.org", "ttl": 1800, "zone_file": None},
        ],
        "ssh_keys": [
            {
                "id": 512189,
                "fingerprint": "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa",
                "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemo demo@example.com",
                "name": "demo key",
            }
        ],
        "actions": [
            {
                "id": 36804636,
                "status": "completed",
                "type": "create",
                "started_at": created,
                "completed_at": created,
                "resource_id": 3164401,
                "resource_type": "droplet",
                "region_slug": "nyc3",
            }
        ],
        "cdn_endpoints": [
            {
                "id": str(uuid.uuid4()),
                "origin": "demo-media.nyc3.digitaloceanspaces.com",
                "endpoint": "demo-media.nyc3.cdn.digitaloceanspaces.com",
                "ttl": 3600,
                "created_at": created,
            }
        ],
        "certificates": [
            {
                "id": str(uuid.uuid4()),
                "name": "demo-cert",
                "type": "lets_encrypt",
                "state": "verified",
                "dns_names": ["example.com"],
                "not_after": "2030-01-01T00:00:00Z",
                "created_at": created,
            }
        ],
        "firewalls": [
            {
                "id": str(uuid.uuid4()),
                "name": "demo-firewall",
                "status": "succeeded",
                "inbound_rules": [],
                "outbound_rules": [],
                "droplet_ids": [3164401],
                "tags": [],
                "created_at": created,
            }
        ],
        "images": [
            {
                "id": 63663980,
                "name": "24.04 (LTS) x64",
                "distribution": "Ubuntu",
                "slug": "ubuntu-24-04-x64",
                "public": True,
                "type": "base",
                "regions": ["nyc3"],
                "created_at": created,
                "status": "available",
            }
        ],
        "load_balancers": [
            {
                "id": str(uuid.uuid4()),
                "name": "demo-lb",
                "ip": "198.51.100.30",
                "status": "active",
                "region": dict(_REGION),
                "created_at": created,
            }
        ],
        "monitoring_alerts": [
            {
                "uuid": str(uuid.uuid4()),
                "type": "v1/insights/droplet/cpu",
                "description": "CPU is running high",
                "compare": "GreaterThan",
                "value": 80,
                "window": "5m",
                "entities": [],
                "tags": ["demo"],
                "alerts": {"email": ["sammy@example.com"], "slack": []},
                "enabled": True,
            }
        ],
        "projects": [
            {
                "id": str(uuid.uuid4()),
                "name": "demo",
                "purpose": "Demo",
                "environment": "Development",
                "is_default": True,
                "created_at": created,
            }
        ],
        "regions": [dict(_REGION), {**_REGION, "name": "Amsterdam 3", "slug": "ams3"}],
        "registries": [
            {
                "name": "demo-registry",
                "region": "nyc3",
                "created_at": created,
                "storage_usage_bytes": 0,
            }
        ],
        "reserved_ips": [
            {"ip": "198.51.100.40", "region": dict(_REGION), "droplet": None, "locked": False}
        ],
        "sizes": [dict(_SIZE), {**_SIZE, "slug": "s-2vcpu-2gb", "vcpus": 2, "memory": 2048}],
        "snapshots": [
            {
                "id": "6372321",
                "name": "demo-web-1-snapshot",
                "resource_type": "droplet",
                "resource_id": "3164401",
                "regions": ["nyc3"],
                "size_gigabytes": 2.36,
                "min_disk_size": 25,
                "created_at": created,
                "tags": [],
            }
        ],
        "tags": [{"name": "demo", "resources": {"count": 2}}],
        "uptime_checks": [
            {
                "id": str(uuid.uuid4()),
                "name": "demo check",
                "type": "https",
                "target": "https://example.com",
                "regions": ["us_east"],
                "enabled": True,
            }
        ],
        "vpcs": [
            {
                "id": str(uuid.uuid4()),
                "name": "default-nyc3",
                "region": "nyc3",
                "ip_range": "10.116.0.0/20",
                "default": True,
                "created_at": created,
            }
        ],
        "balance": [
            {
                "month_to_date_balance": "5.00",
                "account_balance": "0.00",
                "month_to_date_usage": "5.00",
                "generated_at": created,
            }
        ],
        "function_namespaces": [],
        "volume_snapshots": [],
    }
    tenant.resources.update(resources)


def demo_spec(access_key: str, secret_key: str) -> dict[str, Any]:
    """The demo app: app-level vars and a ``web`` service holding the demo Spaces key."""
    return {
        "name": DEMO_APP,
        "region": "nyc",
        "envs": [
            {"key": "LOG_LEVEL", "value": "info", "scope": "RUN_AND_BUILD_TIME", "type": "GENERAL"},
            {
                "key": "SESSION_SECRET",
                "value": secrets.token_urlsafe(24),
                "scope": "RUN_TIME",
                "type": "SECRET",
            },
        ],
        "services": [
            {
                "name": DEMO_COMPONENT,
                "github": {"repo": "example/demo-app", "branch": "main", "deploy_on_push": False},
                "environment_slug": "python",
                "instance_count": 1,
                "instance_size_slug": "apps-s-1vcpu-0.5gb",
                "http_port": 8080,
                "routes": [{"path": "/"}],
                "envs": [
                    {
                        "key": "SPACES_BUCKET",
                        "value": DEMO_BUCKET,
                        "scope": "RUN_TIME",
                        "type": "GENERAL",
                    },
                    {
                        "key": "SPACES_KEY",
                        "value": access_key,
                        "scope": "RUN_TIME",
                        "type": "GENERAL",
                    },
                    {
                        "key": "SPACES_SECRET",
                        "value": secret_key,
                        "scope": "RUN_TIME",
                        "type": "SECRET",
                    },
                ],
            }
        ],
    }


def seed_demo(state: State, tenant: Tenant) -> None:
    """The demo key and app for an account, plus its generic resources."""
    with state.changing():
        seed_resources(tenant, state.clock())
        key = create_key(
            state, tenant, DEMO_KEY, [{"bucket": DEMO_BUCKET, "permission": "readwrite"}]
        )
        new_app(state, tenant, demo_spec(key.access_key, key.secret_key), deployed=True)
