"""Replicas on one token share its rate budget through PostgreSQL: adding them adds no 429s.

Three `rotator run` processes rotate a small fleet on one token against the
sandbox with a small limit (60 requests a minute, enforced by the sandbox
over a sliding minute, as DigitalOcean does). Each replica alone paces itself
to the whole limit, so without the shared budget the three together would
send up to three times it and the sandbox would refuse the excess with 429.
With it, the sandbox's own request log shows (almost) no 429, and every
policy is still rotated exactly once. No timing is asserted: the wait for
the fleet has a generous deadline only.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support.replicas import fleet, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
LIMIT = 60  # requests a minute, in the sandbox and in every replica's config
ROTATE_ALL = 600.0  # seconds: the most the fleet may take at this limit on a loaded machine
TOLERATED = 2  # 429s: a request a slow answer kept in flight across a window's edge


def test_three_replicas_on_one_token_stay_inside_its_limit_together(tmp_path, postgres_url):
    with fleet(
        tmp_path,
        postgres_url,
        size=8,
        rate_per_minute=LIMIT,
        requests_per_minute=LIMIT,
    ) as world:
        world.sandbox.reset_request_log()
        replicas = [world.start(name) for name in ("r1", "r2", "r3")]
        wait_for(
            lambda: world.finished() == set(world.policies),
            timeout=ROTATE_ALL,
            what="every policy rotated and its old key revoked",
        )
        statuses = Counter(entry["status"] for entry in world.sandbox.requests())
        assert statuses[429] <= TOLERATED, statuses
        # The token's budget lived in the store, one row for the one token.
        rows = world.sql("SELECT count(*) FROM rate_budgets")
        assert rows == [(1,)]
        assert world.key_creations() == len(world.policies)
        succeeded = Counter(
            row[0] for row in world.sql("SELECT policy FROM rotations WHERE state = 'succeeded'")
        )
        assert succeeded == Counter(world.policies)
        for replica in replicas:
            assert replica.alive(), replica.text()[-2000:]
            assert "Traceback" not in replica.text()
