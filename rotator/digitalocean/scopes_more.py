"""Scopes of DigitalOcean's newer products, which rotator knows but never probes.

Each one below appears in the official OpenAPI spec (an operation's
``security: bearer_auth``); ``tests/spec/digitalocean-scopes.json`` holds
the spec's list and a test fails when the catalogue drifts from it. None of
these has a probe: the sandbox does not serve their products, so nothing
here is sent to DigitalOcean; a token's holding them is learned from the
token-info endpoint alone.
"""

from __future__ import annotations

UNPROBED: tuple[tuple[str, str], ...] = (
    ("byoip_prefix:create", "Create bring-your-own-IP prefixes"),
    ("byoip_prefix:delete", "Delete bring-your-own-IP prefixes"),
    ("byoip_prefix:read", "View bring-your-own-IP prefixes"),
    ("byoip_prefix:write", "Modify bring-your-own-IP prefixes"),
    ("database:write", "Modify managed database settings (schema registry configuration)"),
    ("dedicated_inference:create", "Create dedicated inference endpoints"),
    ("dedicated_inference:delete", "Delete dedicated inference endpoints"),
    ("dedicated_inference:read", "View dedicated inference endpoints"),
    ("dedicated_inference:update", "Modify dedicated inference endpoints"),
    ("dedicated_inference_tokens:create", "Create dedicated inference access tokens"),
    ("dedicated_inference_tokens:delete", "Delete dedicated inference access tokens"),
    ("dedicated_inference_tokens:read", "View dedicated inference access tokens"),
    ("genai:default", "Use GenAI (Gradient) platform defaults"),
    ("nat_gateway:create", "Create NAT gateways"),
    ("nat_gateway:delete", "Delete NAT gateways"),
    ("nat_gateway:read", "View NAT gateways"),
    ("nat_gateway:update", "Modify NAT gateways"),
    ("nfs:create", "Create network file shares"),
    ("nfs:delete", "Delete network file shares"),
    ("nfs:list", "List network file shares"),
    ("nfs:read", "View network file shares"),
    ("organization:create", "Create organizations"),
    ("organization:read", "View organizations"),
    ("partner_network_connect:create", "Create partner network connections"),
    ("partner_network_connect:read", "View partner network connections"),
    ("partner_network_connect:write", "Modify partner network connections"),
    ("security:create", "Create security scans and rules"),
    ("security:delete", "Delete security scans and rules"),
    ("security:read", "View security scans and findings"),
    ("security:update", "Modify security scans and rules"),
    ("vpc_peering:create", "Create VPC peerings"),
    ("vpc_peering:delete", "Delete VPC peerings"),
    ("vpc_peering:read", "View VPC peerings"),
    ("vpc_peering:update", "Modify VPC peerings"),
)
"""(scope, description) for every spec scope without a probe, sorted by name."""

NOT_IN_SPEC: frozenset[str] = frozenset({"droplet:admin", "spaces:read"})
"""Scopes the control panel grants that no operation of the spec lists."""
