"""Free loopback ports for the local servers the demo and the tests start."""

from __future__ import annotations

import socket

__all__ = ["free_port", "free_port_pair"]


def free_port() -> int:
    """A loopback port nothing listens on right now (also what "unreachable" tests dial)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port_pair() -> int:
    """A loopback port P with P+1 free too (OpenBao's dev server takes P+1 for its cluster)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free pair of loopback ports")
