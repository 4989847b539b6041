"""Audits of stored connections: cached reports, token changes, age and expiry warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rotator.audit import TokenPolicy, audit
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.sandbox import Sandbox
from rotator.secret import Secret
from rotator.store import Store
from tests.support.clock import FakeClock

NEEDED = frozenset(
    {"account:read", "spaces_key:read", "spaces_key:create_credentials", "spaces_key:delete"}
)
START = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def clients(sandbox: Sandbox) -> Any:
    def make(token: Secret) -> DigitalOceanClient:
        return DigitalOceanClient(
            token,
            api_url=sandbox.url,
            oauth_url=sandbox.url,
            retry=RetryPolicy(attempts=1),
            sleep=lambda seconds: None,
        )

    return make


def register(store: Store, sandbox: Sandbox, scopes: list[str], **options: Any) -> str:
    token = sandbox.add_token(scopes, **options)
    store.connections.add("prod", "", Secret(token), options.get("kind", "personal"), None)
    return token


def run(store: Store, clients: Any, clock: FakeClock, **options: Any) -> Any:
    options.setdefault("required", NEEDED)
    return audit(store, "prod", clients, now=clock, **options)


def test_a_fresh_report_is_kept_and_reused_without_asking_again(store, sandbox, clients, clock):
    register(store, sandbox, [*NEEDED, "droplet:read"])
    first = run(store, clients, clock, max_age=timedelta(hours=24))
    assert (first.cached, first.verdict) == (False, "too_broad")
    sandbox.reset_request_log()
    clock.advance(hours=2)
    second = run(store, clients, clock, max_age=timedelta(hours=24))
    assert sandbox.requests() == []
    assert second.cached is True
    assert (second.verdict, second.granted, second.audited_at) == (
        first.verdict,
        first.granted,
        first.audited_at,
    )


def test_a_forced_or_stale_audit_asks_again(store, sandbox, clients, clock):
    register(store, sandbox, [*NEEDED])
    run(store, clients, clock, max_age=timedelta(hours=1))
    assert run(store, clients, clock, max_age=timedelta(hours=1), force=True).cached is False
    clock.advance(hours=2)
    assert run(store, clients, clock, max_age=timedelta(hours=1)).cached is False
    assert run(store, clients, clock).cached is False  # no max_age: never reused


def test_a_report_is_not_reused_after_the_token_changes(store, sandbox, clients, clock):
    register(store, sandbox, [*NEEDED, "droplet:read"])
    old = run(store, clients, clock, max_age=timedelta(days=1))
    new_token = Secret(sandbox.add_token([*NEEDED]))
    store.connections.update("prod", token=new_token, kind="personal")
    assert store.scopes.load("prod") is None
    fresh = run(store, clients, clock, max_age=timedelta(days=1))
    assert fresh.cached is False
    assert fresh.token_hash == new_token.sha256 != old.token_hash
    assert (old.verdict, fresh.verdict) == ("too_broad", "ok")


def test_a_report_is_not_reused_when_the_required_scopes_change(store, sandbox, clients, clock):
    register(store, sandbox, [*NEEDED, "droplet:read"])
    run(store, clients, clock, max_age=timedelta(days=1))
    widened = run(
        store, clients, clock, max_age=timedelta(days=1), required=NEEDED | {"droplet:read"}
    )
    assert (widened.cached, widened.verdict) == (False, "ok")


def test_an_undecided_report_is_not_reused(store, sandbox, clients, clock):
    register(store, sandbox, [*NEEDED])
    sandbox.add_fault(path="^/v1/oauth/token/info$", status=503, times=1)
    sandbox.add_fault(path="^/v2/spaces/keys$", method="GET", status=503, times=1)
    assert run(store, clients, clock, max_age=timedelta(days=1)).verdict == "unknown"
    again = run(store, clients, clock, max_age=timedelta(days=1))
    assert (again.cached, again.verdict) == (False, "ok")


def test_a_report_made_for_an_old_token_is_never_saved_over_the_new_one(store, sandbox, clock):
    old = Secret(register(store, sandbox, [*NEEDED]))
    store.connections.update("prod", token=Secret(sandbox.add_token([*NEEDED])), kind="personal")
    kept = store.scopes.save("prod", old.sha256, clock(), {"verdict": "ok"}, outcome="ok")
    assert kept is False
    assert store.scopes.load("prod") is None


def test_each_audit_is_written_to_the_history(store, sandbox, clients, clock):
    register(store, sandbox, [*NEEDED, "droplet:delete", "droplet:read"])
    run(store, clients, clock)
    entry = list(store.history.page(subject="prod"))[-1]
    assert (entry.event, entry.outcome) == ("connection_audited", "too_broad")
    assert entry.detail["source"] == "token_info"


def test_a_token_expiring_soon_is_warned_about(store, sandbox, clients):
    register(store, sandbox, [*NEEDED], expires_in_seconds=2 * 86400)
    report = audit(store, "prod", clients, required=NEEDED)
    assert report.verdict == "ok"
    assert report.expires_at is not None
    assert any("expires in" in warning for warning in report.warnings)
    quiet = audit(
        store,
        "prod",
        clients,
        required=NEEDED,
        policy=TokenPolicy(expiry_warning=timedelta(days=1)),
    )
    assert not any("expires in" in warning for warning in quiet.warnings)


def test_a_token_older_than_the_maximum_age_is_warned_about(store, sandbox, clients, clock):
    clock.advance(days=-120)  # the token was registered 120 days ago
    register(store, sandbox, [*NEEDED])
    clock.advance(days=120)
    report = run(store, clients, clock)
    assert any("120 days old" in warning for warning in report.warnings)
    relaxed = run(store, clients, clock, policy=TokenPolicy(max_token_age=timedelta(days=365)))
    assert not any("old" in warning for warning in relaxed.warnings)


def test_a_cached_report_grows_its_age_warning_as_time_passes(store, sandbox, clients, clock):
    register(store, sandbox, [*NEEDED])
    first = run(store, clients, clock, max_age=timedelta(days=365))
    assert first.warnings == ()
    clock.advance(days=100)
    later = run(store, clients, clock, max_age=timedelta(days=365))
    assert later.cached is True
    assert any("100 days old" in warning for warning in later.warnings)


def test_a_legacy_token_is_audited_and_warned_about(store, sandbox, clients, clock):
    register(store, sandbox, [*NEEDED], kind="legacy")
    report = run(store, clients, clock)
    assert report.verdict == "ok"
    assert any("legacy" in warning for warning in report.warnings)


def test_a_revoked_token_is_reported_invalid(store, sandbox, clients, clock):
    token = register(store, sandbox, [*NEEDED])
    sandbox.revoke_token(token)
    assert run(store, clients, clock).verdict == "invalid"
