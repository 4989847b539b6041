"""sd_notify without libsystemd: paths, abstract sockets, the watchdog, never failing."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from rotator.engine.sdnotify import Notifier, socket_address, watchdog_interval


@pytest.fixture
def receiver(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(2)
    yield str(path), sock
    sock.close()


def test_ready_status_and_stopping_reach_a_path_socket(receiver):
    path, sock = receiver
    notifier = Notifier({"NOTIFY_SOCKET": path})
    notifier.ready("idle;\nnext: validate")
    assert sock.recv(4096) == b"READY=1\nSTATUS=idle; next: validate"
    notifier.status("running job audit")
    notifier.status("running job audit")  # unchanged: not sent again
    notifier.stopping()
    assert sock.recv(4096) == b"STATUS=running job audit"
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping"
    notifier.close()


def test_an_abstract_socket_named_with_an_at_sign_is_reached():
    name = f"rotator-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
    try:
        assert notifier.send("READY=1")
        assert sock.recv(100) == b"READY=1"
    finally:
        notifier.close()
        sock.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_fails():
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.send("READY=1") is False
    notifier.watchdog()


def test_a_missing_socket_is_logged_once_and_never_raises(tmp_path, caplog):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.send("READY=1") is False
    assert notifier.send("STATUS=x") is False
    notifier.close()
    assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1


def test_the_watchdog_pings_at_half_its_timeout_and_only_for_this_process(receiver):
    path, sock = receiver
    ticks = iter([0.0, 0.5, 1.6])
    notifier = Notifier(
        {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())},
        monotonic=lambda: next(ticks),
    )
    assert notifier.watchdog_every == 1.5
    notifier.watchdog()  # 0.5 s after start: too soon
    notifier.watchdog()  # 1.6 s: due
    assert sock.recv(100) == b"WATCHDOG=1"
    notifier.close()
    assert watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}, 2) is None
    assert watchdog_interval({"WATCHDOG_USEC": "nonsense"}, 2) is None


def test_only_paths_and_abstract_names_are_addresses():
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@name") == "\0name"
    assert socket_address("relative") is None
