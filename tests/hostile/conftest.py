"""A hostile peer between rotator and the sandbox, and the CLI pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rotator.sandbox import Sandbox
from tests.support.cli import Rotator
from tests.support.proxy import HostileProxy


@pytest.fixture
def proxy(sandbox: Sandbox) -> Iterator[HostileProxy]:
    """A proxy that passes everything to the sandbox until a test adds a rule."""
    with HostileProxy(sandbox.url) as running:
        yield running


@pytest.fixture
def rotator(tmp_path, proxy: HostileProxy) -> Rotator:
    """The CLI talking to DigitalOcean (the sandbox) only through the proxy, store initialised."""
    cli = Rotator(tmp_path, proxy.url)
    assert cli("init").code == 0
    return cli
