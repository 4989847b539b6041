"""`connection validate` warns by `daemon.expiry_warning`, on the injected clock, as the daemon."""

from __future__ import annotations

import io
import json

from rotator.cli import main

TEN_DAYS = 10 * 86400


def validate(ctx, *names: str) -> list[dict]:
    ctx.stdout = io.StringIO()
    assert main(["connection", "validate", *names, "--json"], ctx) == 0, ctx.stderr.getvalue()
    return json.loads(ctx.stdout.getvalue())


def home(make_context, sandbox, config: str):
    urls = {"ROTATOR_DO_API_URL": sandbox.url, "ROTATOR_DO_OAUTH_URL": sandbox.url}
    ctx = make_context(config, **urls)
    token = sandbox.add_token(["account:read"], expires_in_seconds=TEN_DAYS)
    ctx.stdin = io.StringIO(token)
    assert main(["connection", "add", "prod", "--token-stdin"], ctx) == 0, ctx.stderr.getvalue()
    return make_context(config, **urls)


def test_the_expiry_warning_comes_from_the_config(make_context, sandbox):
    ctx = home(make_context, sandbox, '[daemon]\nexpiry_warning = "30d"\n')
    (outcome,) = validate(ctx, "prod")
    assert any(w.startswith("token expires in") for w in outcome["warnings"]), outcome


def test_the_default_expiry_warning_says_nothing_ten_days_out(make_context, sandbox):
    ctx = home(make_context, sandbox, "")
    (outcome,) = validate(ctx, "prod")
    assert not any("expires" in w for w in outcome["warnings"]), outcome


def test_a_validation_is_stamped_with_the_injected_clock(make_context, sandbox, clock):
    ctx = home(make_context, sandbox, "")
    (outcome,) = validate(ctx, "prod")
    assert outcome["checked_at"] == f"{clock():%Y-%m-%dT%H:%M:%SZ}"  # the CLI prints times one way
