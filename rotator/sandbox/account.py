"""Who the token belongs to: ``GET /v2/account``, ``GET /v1/oauth/token/info``;
and ``POST /v1/oauth/revoke``.

The two OAuth endpoints are not in the OpenAPI spec; they live on
cloud.digitalocean.com. doctl calls token info to validate a token
(``do/oauth.go``: ``OAuthTokenInfo``). Its fields are Doorkeeper's token
JSON: ``resource_owner_id`` (an integer), ``scopes`` (as granted, aliases
unexpanded), ``expires_in_seconds`` (null when the token never expires),
``application`` (``{"uid": ...}``, null uid for personal tokens) and
``created_at`` (Unix seconds). doctl's ``registry logout`` calls revoke
(``do/registry.go``: ``RevokeOAuthToken``) with the form ``token=<token>``,
authenticated by a token; as RFC 7009 says, it answers 200 whether or not
the token named was valid, and a token of another account is left alone.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs

from rotator.sandbox.calls import Call, Reply, bad_request
from rotator.sandbox.tokens import token_hash


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


def revoke(call: Call) -> Reply:
    """``POST /v1/oauth/revoke`` (any valid token), form ``token=…``: that token stops working."""
    caller = call.token
    assert caller is not None  # the pipeline authenticated the call
    try:
        named = parse_qs(call.body.decode("ascii")).get("token", [])
    except UnicodeDecodeError as exc:
        raise bad_request("The request body is not a form.") from exc
    if len(named) > 1:
        raise bad_request("The form names more than one token.")
    for token in named:  # none named: nothing to revoke, still 200
        with call.state.changing():
            record = call.state.tokens.get(token_hash(token))
            if record is not None and record.account == caller.account:
                record.revoked = True
    return Reply(200, {})


HANDLERS = {
    "account_get": get_account,
    "oauth_token_info": token_info,
    "oauth_revoke": revoke,
}
