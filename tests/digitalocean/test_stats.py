from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from rotator.digitalocean.stats import ClientStats


def test_counters_added_from_many_threads_are_all_kept() -> None:
    stats = ClientStats()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: stats.add(calls=1, rate_limited=1), range(1000)))

    assert (stats.calls, stats.rate_limited) == (1000, 1000)


def test_a_snapshot_does_not_move_with_later_counts() -> None:
    stats = ClientStats()
    stats.add(calls=2, waited_seconds=1.5)

    snapshot = stats.snapshot()
    stats.add(calls=1)

    assert (snapshot.calls, snapshot.waited_seconds) == (2, 1.5)
    assert stats.calls == 3


def test_the_repr_shows_counts_only() -> None:
    stats = ClientStats()
    stats.add(retries=1)

    assert repr(stats) == (
        "ClientStats(calls=0, rate_limited=0, retries=1, transport_errors=0, waited_seconds=0.0)"
    )
