"""Issue 10 §4: a first rotation that fails or is killed must not reset the key's age.

The sandbox's demo key is backdated to 2020. The first `rotate` adopts it and
then fails (DigitalOcean refuses to read its grants) or is killed right after
that read. The key is still years past its 30-day period, so it must stay
overdue: the due time counts from DigitalOcean's `created_at`, not from the
moment of the failed attempt, and the daemon's next pass rotates it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.cli import ROTATION_SCOPES, Rotator, media_policy, rotate_killed_after

CREATED = "2020-01-02T03:04:05Z"


@pytest.fixture
def old_key(tmp_path, sandbox):
    """The `media` policy over the seeded demo key, backdated to 2020."""
    initialised = Rotator(tmp_path, sandbox.url)
    assert initialised("init").code == 0
    app_id = sandbox.app_ids()[0]
    initialised.config.write_text(
        '[digitalocean]\nretries = 0\ntimeout = "5s"\n' + media_policy(app_id, grace="1s")
    )
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    with sandbox.state.lock:
        for key in sandbox.state.tenant(None).spaces_keys.values():
            if key.name == "demo-media":
                key.created_at = CREATED
                initialised.access_key = key.access_key
    return initialised


def media_status(rotator) -> dict:
    result = rotator("status", "--json")
    assert result.code == 0, result.output
    [policy] = json.loads(result.stdout)["policies"]
    return policy


def assert_still_overdue(rotator, *, planned_ok: bool = False) -> None:
    """The key keeps its 2020 age; with *planned_ok* a rotation may be planned (not begun)."""
    policy = media_status(rotator)
    if planned_ok and policy["in_flight"] is not None:
        # The kill lands once the answer is flushed: the process may have recorded its
        # plan first. Nothing was created, and the plan is resumed from the same key.
        assert policy["in_flight"]["state"] == "planned", policy["in_flight"]
        assert policy["in_flight"]["new_access_key"] is None
    else:
        assert policy["in_flight"] is None
    assert policy["current_access_key"] == rotator.access_key
    assert datetime.fromisoformat(policy["current_since"]) == datetime(
        2020, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    due = datetime.fromisoformat(policy["next_due_at"])
    if policy["in_flight"] is None:
        assert due < datetime.now(UTC) - timedelta(days=365)
    else:
        assert due <= datetime.now(UTC)  # a rotation in flight is due at once


def assert_the_daemon_rotates_it_next(rotator, sandbox) -> None:
    sandbox.clear_faults()
    result = rotator("run", "--once")
    assert result.code == 0, result.output
    policy = media_status(rotator)
    assert policy["current_access_key"] != rotator.access_key
    assert policy["previous_access_key"] == rotator.access_key


def test_a_first_rotation_that_fails_leaves_an_old_key_overdue(old_key, sandbox):
    sandbox.add_fault(
        method="GET", path=f"/v2/spaces/keys/{old_key.access_key}", status=503, times=None
    )
    result = old_key("rotate", "media")
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert_still_overdue(old_key)
    assert_the_daemon_rotates_it_next(old_key, sandbox)


def test_a_first_rotation_killed_after_adopting_the_key_leaves_it_overdue(old_key, sandbox):
    # The grants are read right after the key is adopted: die the moment they arrive.
    rotate_killed_after(old_key, sandbox, "GET", f"/v2/spaces/keys/{old_key.access_key}")
    assert_still_overdue(old_key, planned_ok=True)
    assert_the_daemon_rotates_it_next(old_key, sandbox)
