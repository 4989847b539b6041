"""Stop and reload requests: signals reach events, waits end early, a stuck step is cut."""

from __future__ import annotations

import os
import signal
import time

import pytest

from rotator.engine.lifecycle import Lifecycle, StopRequested


def test_a_stop_request_ends_a_sleep_at_once():
    lifecycle = Lifecycle()
    lifecycle.sleep(0.01)
    lifecycle.request_stop()
    started = time.monotonic()
    with pytest.raises(StopRequested):
        lifecycle.sleep(60)
    assert time.monotonic() - started < 1


def test_sighup_asks_for_a_reload_and_wakes_the_loop_and_sigterm_asks_to_stop():
    with Lifecycle() as lifecycle:
        os.kill(os.getpid(), signal.SIGHUP)
        started = time.monotonic()
        lifecycle.wait(10)
        assert time.monotonic() - started < 5
        assert lifecycle.reload.wait(5)
        os.kill(os.getpid(), signal.SIGTERM)
        assert lifecycle.stop.wait(5)
        lifecycle.disarm()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_step_that_does_not_end_after_a_stop_is_interrupted():
    with Lifecycle(hard_stop_after=0.2) as lifecycle:
        lifecycle.request_stop()
        started = time.monotonic()
        with pytest.raises(StopRequested, match="did not end in time"):
            time.sleep(10)  # a step deaf to the stop request (a hung HTTP call, say)
        assert time.monotonic() - started < 5
        lifecycle.disarm()


def test_the_heartbeat_beats_during_a_long_sleep():
    beats = []
    lifecycle = Lifecycle(heartbeat=lambda: beats.append(1), heartbeat_every=0.02)
    lifecycle.sleep(0.15)
    assert len(beats) >= 3
