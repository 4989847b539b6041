import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from alerts_support import SIGNING_SECRET, WEBHOOK_PATH, token_alert

from rotator.alerts import Alert, Channel, Dispatcher, Outbox, WebhookChannel
from rotator.crypto import Keyring, MasterKey
from rotator.secret import Secret
from rotator.store import Store


def rows(store):
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        return db.execute(
            "SELECT id, channel, attempts, next_attempt_at, last_error, delivered_at, gave_up_at "
            "FROM alert_outbox ORDER BY id"
        ).fetchall()


def delivered_ids(receiver, path=WEBHOOK_PATH):
    return [request.json()["id"] for request in receiver.to(path)]


@pytest.fixture
def outbox(store):
    return Outbox(store, random=lambda: 1.0)  # no jitter: delays are exact


def test_enqueue_writes_one_row_per_channel_in_one_transaction(store, outbox, webhook, slack):
    ids = outbox.enqueue(token_alert(), [webhook, slack])
    assert len(ids) == 2
    assert [(row[1], row[2], row[5]) for row in rows(store)] == [
        ("ops", 0, None),
        ("team", 0, None),
    ]


def test_a_receiver_that_comes_back_gets_the_alert_exactly_once(
    store, outbox, webhook, receiver, http, clock
):
    receiver.stop()
    outbox.enqueue(token_alert(), [webhook])
    start = clock()
    report = outbox.deliver_due([webhook], http, now=start)
    assert (report.sent, report.failed, report.pending) == (0, 1, 1)
    [row] = rows(store)
    assert row[2] == 1
    assert row[3] == (start + timedelta(seconds=30)).isoformat(timespec="microseconds")
    assert "no answer from" in row[4]

    receiver.start()
    early = outbox.deliver_due([webhook], http, now=start + timedelta(seconds=29))
    assert (early.sent, early.pending, early.results) == (0, 1, [])
    assert receiver.requests == []

    later = outbox.deliver_due([webhook], http, now=start + timedelta(seconds=30))
    assert (later.sent, later.pending) == (1, 0)
    again = outbox.deliver_due([webhook], http, now=start + timedelta(hours=5))
    assert again.results == []
    assert len(receiver.requests) == 1
    assert rows(store)[0][5] is not None


def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens_it(
    store, webhook, receiver, http, clock
):
    receiver.status = 503
    draws = iter([1.0, 1.0, 1.0, 1.0, 0.0])
    outbox = Outbox(store, random=lambda: next(draws))
    outbox.enqueue(token_alert(), [webhook])
    now = clock()
    delays = []
    for _ in range(5):
        result = outbox.deliver_due(
            [webhook],
            http,
            now=now,
            base_delay=timedelta(seconds=30),
            max_delay=timedelta(minutes=3),
        ).results[0]
        delays.append(result.next_attempt_at - now)
        now = result.next_attempt_at
    assert delays == [
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=120),
        timedelta(seconds=180),  # capped
        timedelta(seconds=90),  # jitter at its lowest: half the delay
    ]


def test_after_max_attempts_a_row_is_given_up_logged_and_audited_never_raised(
    store, outbox, webhook, receiver, http, clock, caplog
):
    receiver.status = 500
    outbox.enqueue(token_alert(), [webhook])
    now = clock()
    statuses = []
    with caplog.at_level(logging.WARNING, logger="rotator.alerts"):
        for _ in range(4):
            report = outbox.deliver_due([webhook], http, now=now, max_attempts=3)
            statuses += [result.status for result in report.results]
            now += timedelta(hours=2)
    assert statuses == ["failed", "failed", "gave_up"]
    assert len(receiver.requests) == 3
    [row] = rows(store)
    assert row[2] == 3 and row[6] is not None and row[5] is None
    assert any("given up" in record.getMessage() for record in caplog.records)
    [entry] = [entry for entry in list(store.history.page()) if entry.event == "alert_gave_up"]
    assert entry.subject == "prod"
    assert entry.detail["channel"] == "ops"
    assert entry.detail["attempts"] == 3
    assert "answered 500" in entry.detail["error"]


class Broken(Channel):
    """A channel with a bug: it raises something that is not an AlertError."""

    type = "broken"

    def __init__(self) -> None:
        super().__init__("broken", "http://127.0.0.1:9/")

    def _request(self, alert: Alert):
        raise RuntimeError("bug in a channel")


def test_a_failing_channel_does_not_stop_delivery_on_the_others(
    store, outbox, webhook, slack, receiver, http, clock
):
    down = WebhookChannel("down", "http://127.0.0.1:9/hook", Secret("x" * 16))
    broken = Broken()
    channels = [down, broken, webhook, slack]
    outbox.enqueue(token_alert(), channels)
    report = outbox.deliver_due(channels, http, now=clock())
    assert (report.sent, report.failed) == (2, 2)
    by_channel = {result.channel: result for result in report.results}
    assert by_channel["broken"].error is not None
    assert "unexpected RuntimeError" in by_channel["broken"].error
    assert len(receiver.requests) == 2


def test_a_channel_gets_its_alerts_in_order_even_after_a_failure(
    store, outbox, webhook, receiver, http, clock
):
    receiver.stop()
    first = token_alert()
    second = token_alert(resolved=True)
    outbox.enqueue(first, [webhook])
    outbox.enqueue(second, [webhook])
    report = outbox.deliver_due([webhook], http, now=clock())
    assert (report.failed, report.pending) == (1, 2)  # the second waited behind the first
    assert [row[2] for row in rows(store)] == [1, 0]
    receiver.start()
    report = outbox.deliver_due([webhook], http, now=clock() + timedelta(minutes=1))
    assert report.sent == 2
    assert delivered_ids(receiver) == [first.id, second.id]


def test_rows_for_a_channel_no_longer_configured_wait_untouched(
    store, outbox, webhook, receiver, http, clock, caplog
):
    gone = WebhookChannel("gone", receiver.url + "/gone", Secret("y" * 16))
    outbox.enqueue(token_alert(), [gone])
    with caplog.at_level(logging.WARNING, logger="rotator.alerts"):
        first = outbox.deliver_due([webhook], http, now=clock())
        second = outbox.deliver_due([webhook], http, now=clock())
    assert (first.orphaned, second.orphaned) == (1, 1)
    warnings = [r.getMessage() for r in caplog.records if "not configured" in r.getMessage()]
    assert len(warnings) == 1 and "'gone'" in warnings[0]
    assert rows(store)[0][2] == 0
    back = outbox.deliver_due([gone], http, now=clock())
    assert back.sent == 1


def test_prune_drops_old_finished_rows_and_keeps_recent_ones(store, outbox, webhook, http, clock):
    outbox.enqueue(token_alert(), [webhook])
    outbox.deliver_due([webhook], http, now=clock())
    clock.advance(days=40)
    outbox.enqueue(token_alert(), [webhook])
    assert outbox.prune(clock() - timedelta(days=30)) == 1
    assert len(rows(store)) == 1
    assert outbox.pending_counts() == {"ops": 1}


CRASHING_CHILD = textwrap.dedent(
    """
    import os, sys
    from datetime import timedelta
    import httpx
    sys.path.insert(0, sys.argv[3])
    from tests.alerts.alerts_support import token_alert
    from tests.support.clock import FakeClock
    from rotator.alerts import Dispatcher, WebhookChannel
    from rotator.crypto import Keyring, MasterKey
    from rotator.secret import Secret
    from rotator.store import Store
    from pathlib import Path

    keyring = Keyring(MasterKey.from_text(Secret(os.environ["KEY"]), "test"))
    store = Store.open(Path(sys.argv[1]), keyring, writer=True)
    channel = WebhookChannel("ops", sys.argv[2], Secret("z" * 16))
    with httpx.Client() as http:
        clock = FakeClock()
        dispatcher = Dispatcher(store, [channel], http, now=clock, reminder=timedelta(hours=1))
        assert dispatcher.raise_condition(token_alert())
        os._exit(9)  # die before any flush: no close, no cleanup
    """
)


def test_an_alert_queued_just_before_a_crash_is_delivered_after_a_restart(
    tmp_path, store, key_text, webhook, receiver, http, clock
):
    state_dir = tmp_path / "state"
    store.close()  # the child is the writer now
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_CHILD,
            str(state_dir),
            receiver.url + WEBHOOK_PATH,
            os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        ],
        env={**os.environ, "KEY": key_text.reveal()},
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == 9, child.stderr
    assert receiver.requests == []
    keyring = Keyring(MasterKey.from_text(key_text, "test"))
    with Store.open(state_dir, keyring, writer=True, now=clock) as reopened:
        dispatcher = Dispatcher(reopened, [webhook], http, now=clock, reminder=timedelta(hours=1))
        assert dispatcher.flush().sent == 1
        assert not dispatcher.raise_condition(token_alert())  # the condition survived too
        assert dispatcher.flush().results == []
    assert len(receiver.requests) == 1


@pytest.fixture
def two_writers(tmp_path, key_text, clock):
    """Two processes' worth of stores on one state directory (writers share the lock)."""
    keyring = Keyring(MasterKey.from_text(key_text, "test"))
    Store.create(tmp_path / "shared", keyring, now=clock).close()
    first = Store.open(tmp_path / "shared", keyring, writer=True, now=clock)
    second = Store.open(tmp_path / "shared", keyring, writer=True, now=clock)
    yield first, second
    first.close()
    second.close()


class FlushesMeanwhile(WebhookChannel):
    """While this channel sends, another process flushes the same outbox."""

    def send(self, alert, http):
        self.meanwhile = self.other.deliver_due([self.twin], http, now=self.now)
        super().send(alert, http)


def test_two_processes_flushing_at_once_never_send_a_row_twice(two_writers, receiver, http, clock):
    first, second = two_writers
    url = receiver.url + WEBHOOK_PATH
    channel = FlushesMeanwhile("ops", url, Secret(SIGNING_SECRET))
    channel.other = Outbox(second)
    channel.twin = WebhookChannel("ops", url, Secret(SIGNING_SECRET))
    channel.now = clock()
    Outbox(first).enqueue(token_alert(), [channel])
    report = Outbox(first).deliver_due([channel], http, now=clock())
    assert report.sent == 1
    assert (channel.meanwhile.sent, channel.meanwhile.pending) == (0, 1)
    assert len(receiver.requests) == 1


class DiesWhileSending(WebhookChannel):
    def send(self, alert, http):
        raise SystemExit("killed mid-send")


def test_a_send_cut_short_by_a_crash_is_retried_once_its_claim_expires(
    store, outbox, webhook, receiver, http, clock
):
    dying = DiesWhileSending("ops", receiver.url + WEBHOOK_PATH, Secret(SIGNING_SECRET))
    outbox.enqueue(token_alert(), [webhook])
    with pytest.raises(SystemExit):
        outbox.deliver_due([dying], http, now=clock())
    assert rows(store)[0][2] == 1  # the attempt counts, so a crash loop still gives up
    assert outbox.deliver_due([webhook], http, now=clock() + timedelta(minutes=1)).sent == 0
    assert outbox.deliver_due([webhook], http, now=clock() + timedelta(minutes=2)).sent == 1
    assert len(receiver.requests) == 1
