"""The contract every sink fulfils, and the values that cross it.

A sink is a place a rotated credential's named fields are delivered to (an App Platform
app's env vars, a Vault KV path). A sink module holds two classes:

- its config model, a :class:`SinkConfig` subclass: the ``[[policies.sinks]]``
  table with ``type = "<its type>"``, its secret files as
  :data:`~rotator.configtypes.ReadableFile` fields (``config check`` proves
  them readable; the plugin reads them with
  :func:`~rotator.configtypes.read_secret`), the DigitalOcean scopes it
  needs, and :meth:`SinkConfig.build`, the typed factory;
- the sink, a :class:`Sink` subclass naming that model in ``Config``.

``rotator.sinks.SINKS`` lists the sink classes; the settings' union of sink
tables and the registry are both derived from it. The rotation state machine
owns the control flow; a sink only answers four questions:

- :meth:`Sink.check`: is the sink reachable and ours to write? (no change)
- :meth:`Sink.describe_push`: what would a push change? (dry run; no change)
- :meth:`Sink.push`: deliver the pair and return only once the sink is
  *confirmed* to serve it (App Platform: the deployment is ACTIVE; Vault: the
  written version was read back). Raise :class:`rotator.errors.SinkError`
  otherwise: the rotation then keeps the old key alive. When the push's
  context allows it (``PushContext.defer``, the daemon), a sink whose
  confirmation takes long may instead return :class:`Pending`: "accepted,
  confirm later". The rotation then persists ``waiting_for_deployment`` with
  the pending detail and later asks :meth:`Sink.confirm` (again and again,
  on the engine's schedule) until it answers a :class:`Confirmation`. A sink
  that never returns ``Pending`` (Vault, the default) needs no ``confirm``.
- :meth:`Sink.holds`: which access key does the sink serve right now, if it
  can tell? (crash recovery, status, tests)

and may hear one thing: :meth:`Sink.after_revoke`, the previous key is gone
(a sink that kept a copy of it for a rollback removes it; a no-op by default).

``push`` must be safe to repeat: after a crash the state machine pushes the
same pair again, and a sink that already serves it simply confirms.
A sink never logs, returns or raises the secret key.
"""

from __future__ import annotations

import builtins
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from rotator.configtypes import Name, Strict
from rotator.credentials.base import Credential as Credential
from rotator.credentials.base import KeyPair as KeyPair
from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import SinkError

Progress = Callable[[str], None]
"""Told each phase change of a long wait as one short line (the CLI shows it; never a secret)."""


def placeholder(field: str) -> str:
    """How a dry run shows a value not made yet: ``<new secret>``, ``<new key_id>``."""
    return "<new secret>" if field == "secret_key" else f"<new {field}>"


def joined(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def no_progress(text: str) -> None:
    """A :data:`Progress` that shows nothing (the daemon's: its logs say enough)."""


@dataclass(frozen=True)
class PushContext:
    """Who is pushing, for ownership marks and logs (never secret)."""

    policy: str
    rotation_id: str
    rotated_at: datetime
    progress: Progress = no_progress
    """Where a sink reports the phases of a slow push (a deployment's BUILDING, ACTIVE)."""
    defer: bool = False
    """The caller takes :class:`Pending` rather than a wait (the daemon; the CLI follows)."""
    fields: tuple[str, ...] = ("access_key", "secret_key")
    """The fields the policy's credential kind hands over (a dry run has no credential)."""
    identifier_field: str | None = "access_key"
    """The field naming the credential publicly (None when no field does)."""
    waited: Mapping[str, str] | None = None
    """The detail of this sink's earlier :class:`Pending` that wrote nothing yet (see
    :attr:`Pending.before_push`): the push goes on from that wait."""


@dataclass(frozen=True)
class Confirmation:
    """Proof that a sink serves the new pair (shown in history; never secret)."""

    sink: str
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Pending:
    """Accepted, not yet confirmed: ask :meth:`Sink.confirm` with ``detail`` later.

    ``detail`` is persisted with the rotation (never secret), so a restarted
    process can confirm what another one pushed.

    A sink that must wait *before* it can write (an App Platform deployment
    already running) answers ``Pending`` with ``detail["pushed"] = "no"``
    (:attr:`before_push`): nothing was written, so the caller later pushes
    again (with this detail as ``PushContext.waited``) rather than confirm.
    """

    sink: str
    detail: dict[str, str] = field(default_factory=dict)

    @property
    def what(self) -> str:
        """One short line: what is awaited (``deployment <id>``)."""
        return self.detail.get("waiting_for", "confirmation")

    @property
    def before_push(self) -> bool:
        """Whether the sink wrote nothing yet: push again later, do not confirm."""
        return written_nothing(self.detail)


def written_nothing(detail: Mapping[str, str]) -> bool:
    """Whether a waiting sink's recorded *detail* is a wait before anything was written."""
    return detail.get("pushed") == "no"


@dataclass(frozen=True)
class SinkDeps:
    """What a sink may need from outside its own table, injected so tests control it."""

    digitalocean: DigitalOceanClient | None = None  # the policy's connection
    policy: str | None = None  # the policy's name, when known before a push
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    poll_interval: float = 5.0  # the longest pause between two polls of a slow destination


class SinkConfig(Strict):
    """One ``[[policies.sinks]]`` table; each sink module subclasses it."""

    type: str  # narrowed to the sink's Literal["<type>"] by each subclass
    name: Name | None = None

    # The scopes the policy's DigitalOcean token needs for this sink (none for
    # a destination outside DigitalOcean); the scope audit requires them.
    digitalocean_scopes: ClassVar[frozenset[str]] = frozenset()

    def field_names(self) -> frozenset[str]:
        """The credential fields this table maps by name (checked against the policy's kind).

        Empty when the sink takes whatever fields the kind has.
        """
        return frozenset()

    @property
    def label(self) -> str:
        """How logs, errors and history name this sink: its ``name``, else a default."""
        return self.name or f"{self.type}:{self.default_label()}"

    @abstractmethod
    def default_label(self) -> str:
        """What tells this sink apart from others of its type (an app id, a path)."""

    @abstractmethod
    def build(self, deps: SinkDeps) -> Sink:
        """The sink for this table; reads its secret files, sends no request yet.

        Raises :class:`rotator.errors.ConfigError` for an unreadable secret
        and :class:`rotator.errors.SinkError` for a table it cannot serve.
        """


class Sink(ABC):
    """One destination for rotated keys."""

    type: ClassVar[str]
    Config: ClassVar[builtins.type[SinkConfig]]

    def __init__(self, label: str) -> None:
        self.label = label

    @abstractmethod
    def check(self) -> None:
        """Prove the sink is reachable and writable by us; change nothing."""

    @abstractmethod
    def describe_push(self, access_key: str, context: PushContext) -> list[str]:
        """The changes a push of credential ``access_key`` would make, one line each.

        ``access_key`` is the credential's public identifier (a Spaces access
        key, a Functions key id, ...); ``context.fields`` names what it holds.
        Changes nothing.
        """

    @abstractmethod
    def push(self, keys: Credential, context: PushContext) -> Confirmation | Pending:
        """Deliver the credential's fields and wait until the sink is confirmed to serve them.

        Only when ``context.defer`` is set may it return :class:`Pending` instead.
        """

    def confirm(self, detail: dict[str, str], context: PushContext) -> Confirmation | Pending:
        """Is what a push left :class:`Pending` (its *detail*) confirmed now?

        Without ``context.defer`` it waits until it is. Only sinks that return
        :class:`Pending` from :meth:`push` are ever asked.
        """
        raise SinkError(self.label, "this sink never leaves a push pending; push again")

    @abstractmethod
    def holds(self) -> str | None:
        """The access key the sink serves now, or None when it cannot tell."""

    def after_revoke(self, access_key: str) -> None:  # noqa: B027 (a deliberate no-op default)
        """The old ``access_key`` was deleted: drop any copy of it kept for a rollback."""

    def close(self) -> None:  # noqa: B027 (a deliberate no-op default)
        """Release connections (sinks holding none need not override this)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"
