"""Build what rotating one policy takes: its connection's client, its sinks, the state machine.

Shared by ``rotator rotate`` and the daemon's rotate and revoke jobs, so both
rotate exactly the same way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rotator.rotation import Notify, PolicyRotation
from rotator.settings import PolicyConfig
from rotator.sinks import SinkDeps, build_sink
from rotator.store import Store
from rotator.validation import ClientFactory


@contextlib.contextmanager
def policy_rotation(
    store: Store,
    policy: PolicyConfig,
    clients: ClientFactory,
    *,
    lock_dir: Path,
    notify: Notify | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[PolicyRotation]:
    """A :class:`PolicyRotation` for *policy*; its client and sinks are closed on exit.

    *sleep* is what the sinks wait with (App Platform polls a deployment for
    minutes): the daemon passes one that a stop request interrupts.
    """
    token = store.connections.open_token(store.connections.get(policy.connection))
    with clients(token) as client, contextlib.ExitStack() as cleanup:
        deps = SinkDeps(digitalocean=client, sleep=sleep)
        sinks = []
        for config in policy.sinks:
            sink = build_sink(config, deps)
            cleanup.callback(sink.close)
            sinks.append(sink)
        yield PolicyRotation(store, policy, client, sinks, lock_dir=lock_dir, notify=notify)
