"""`rotator status` shows the due time the daemon rotates at: one function computes both."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from rotator.cli import main
from rotator.digitalocean.spaces import Grant
from rotator.engine.jobs.base import Pass, Runtime
from rotator.engine.jobs.rotate import RotateJob
from rotator.secret import Secret

POLICY = """
[[policies]]
name = "media"
connection = "prod"
spaces_key = "DO00ORIGINAL"
every = "1h"
grace = "3h"

[[policies.sinks]]
type = "app_platform"
app_id = "6d3b0c1e-0000-4000-8000-000000000000"
access_key_env = "SPACES_KEY"
secret_key_env = "SPACES_SECRET"
"""


def rotated_once(ctx, clock) -> None:
    """The policy's key rotated at START: the old key lives through the 3h grace period."""
    with ctx.open_store(writer=True) as store:
        records = store.rotations
        records.adopt("media", "DO00ORIGINAL")
        record = records.begin(
            "media", "r1", "DO00ORIGINAL", "rotator-media-r1", (Grant("media", "readwrite"),)
        )
        records.record_created(record, "DO00NEW", Secret("new-secret"))
        records.promote(records.get("r1"), timedelta(hours=3))


def status_due(ctx) -> str | None:
    ctx.stdout = io.StringIO()
    assert main(["status", "--json"], ctx) == 0
    (policy,) = json.loads(ctx.stdout.getvalue())["policies"]
    return policy["next_due_at"]


def daemon_due(ctx, now: datetime) -> datetime:
    with ctx.open_store(writer=True) as store:
        return RotateJob().due_items(Pass(store, Runtime(ctx), now))["media"]


def test_status_shows_the_time_the_daemon_rotates_at_after_the_grace_period(make_context, clock):
    ctx = make_context(POLICY)
    rotated_once(ctx, clock)
    clock.advance(timedelta(minutes=10))
    due = daemon_due(ctx, clock())
    # every = 1h would say START + 1h; the previous key lives until START + 3h.
    assert due == clock.moment - timedelta(minutes=10) + timedelta(hours=3)
    assert status_due(ctx) == f"{due.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"  # to the second


def test_status_and_daemon_agree_once_the_previous_key_is_gone(make_context, clock):
    ctx = make_context(POLICY)
    rotated_once(ctx, clock)
    with ctx.open_store(writer=True) as store:
        store.rotations.record_revoke("media", "DO00ORIGINAL")
    due = daemon_due(ctx, clock())
    assert due == clock.moment + timedelta(hours=1)
    assert status_due(ctx) == f"{due.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"  # to the second


def test_a_policy_never_rotated_has_no_due_time_until_the_daemon_asks_digitalocean(
    make_context, clock
):
    ctx = make_context(POLICY)
    assert status_due(ctx) is None
