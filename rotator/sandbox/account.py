"""Who the token belongs to: ``GET /v2/account`` and ``GET /v1/oauth/token/info``.

The token-info endpoint is undocumented; it lives on cloud.digitalocean.com
and doctl calls it to validate a token (``do/oauth.go``: ``OAuthTokenInfo``).
Its fields are Doorkeeper's token JSON: ``resource_owner_id`` (an integer),
``scopes`` (as granted, aliases unexpanded), ``expires_in_seconds`` (null
when the token never expires), ``application`` (``{"uid": ...}``, null uid
for personal tokens) and ``created_at`` (Unix seconds).
"""

from __future__ import annotations

import math

from rotator.sandbox.calls import Call, Reply


def get_account(call: Call) -> Reply:
    """``GET /v2/account`` (account:read) → ``{"account": {...}}``."""
    with call.state.lock:
        account = call.tenant.account
        return Reply(
            200,
            {
                "account": {
                    "droplet_limit": account.droplet_limit,
                    "floating_ip_limit": account.floating_ip_limit,
                    "reserved_ip_limit": account.reserved_ip_limit,
                    "volume_limit": account.volume_limit,
                    "email": account.email,
                    "name": account.name,
                    "uuid": account.uuid,
                    "email_verified": account.email_verified,
                    "status": account.status,
                    "status_message": account.status_message,
                    "team": {"uuid": account.team_uuid, "name": account.team_name},
                }
            },
        )


def token_info(call: Call) -> Reply:
    """``GET /v1/oauth/token/info`` (any valid token): the token's own grants."""
    token = call.token
    assert token is not None  # the pipeline authenticated the call
    with call.state.lock:
        owner = call.tenant.account.id
    expires_in = None
    if token.expires_at is not None:
        expires_in = max(0, math.floor(token.expires_at - call.now))
    return Reply(
        200,
        {
            "resource_owner_id": owner,
            "scopes": list(token.scopes),
            "expires_in_seconds": expires_in,
            "application": {"uid": token.application_uid},
            "created_at": int(token.created_at),
        },
    )


HANDLERS = {"account_get": get_account, "oauth_token_info": token_info}
