"""What an alert is, which events exist, and the contract every channel keeps.

An :class:`Alert` carries names, fingerprints (the first 12 hex of a token's
SHA-256), scope names and counts — never a token or a secret. As a last line
of defence every text field is passed through :func:`rotator.logs.redact`, so
a token pasted into a fact by mistake leaves rotator as ``[redacted-token]``.

A channel module holds two classes: its config model, a
:class:`ChannelConfig` subclass (the ``[[alerts]]`` table with ``type =
"<its type>"``, its secret files as ``ReadableFile`` fields, and
:meth:`ChannelConfig.build`, which reads them), and the :class:`Channel`
naming that model in ``Config``. ``rotator.alerts.CHANNELS`` lists the
channel classes; the settings' union of ``[[alerts]]`` tables and the
registry are derived from it.

A :class:`Channel` owns the HTTP control flow once (POST, status check,
error translation, scrubbing); a channel module fills in :meth:`Channel._request`
with its URL, headers and body, and :meth:`Channel._secret_parts` with what
must never appear in an error message or a log line. An :class:`AlertError`
is transient when no answer came back or the receiver answered 429 or 5xx.
"""

from __future__ import annotations

import abc
import builtins
import json
import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final, Literal
from urllib.parse import urlsplit

import httpx

from rotator import __version__
from rotator.configtypes import Name, Strict
from rotator.errors import AlertError
from rotator.logs import redact

Severity = Literal["critical", "warning", "info"]
SEVERITIES: Final = ("critical", "warning", "info")
USER_AGENT: Final = f"rotator/{__version__}"
# A channel that takes longer than this holds up the daemon's loop; the
# outbox retries later instead.
SEND_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class Event:
    """One kind of alert: its default severity and what it means in a few words."""

    severity: Severity
    summary: str
    # A condition stays open until cleared (and then gets a resolved notice);
    # a one-shot event (a rotation result, a test) is just sent.
    condition: bool


# The one list of events rotator knows. Adding one here is all it takes.
EVENTS: Final[Mapping[str, Event]] = MappingProxyType(
    {
        "token_invalid": Event("critical", "API token is invalid", True),
        "token_missing_scopes": Event("critical", "API token lacks needed scopes", True),
        "token_too_broad": Event("warning", "API token can do more than it needs", True),
        "token_expiring": Event("warning", "API token expires soon", True),
        "token_old": Event("warning", "API token is old", True),
        "account_locked": Event("critical", "DigitalOcean account is locked", True),
        "rotation_succeeded": Event("info", "Key rotated", False),
        "rotation_failed": Event("critical", "Key rotation failed", True),
        "sink_failed": Event("critical", "A sink did not take the new key", True),
        "revoke_failed": Event("warning", "Old key could not be deleted", True),
        "key_revoked": Event("info", "Old key deleted", False),
        "rotation_abandoned": Event("warning", "Key rotation abandoned", False),
        "test": Event("info", "Test alert from rotator", False),
    }
)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("an alert's occurred_at must be timezone-aware")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Alert:
    """One notice to operators.

    ``facts`` is an ordered mapping of snake_case keys (``connection``,
    ``token_fingerprint``, ``missing_scopes``) to short strings: stable keys
    for a webhook's code to read, which Slack shows as labels.
    """

    event: str
    subject: str
    severity: Severity
    title: str
    text: str
    occurred_at: datetime
    facts: Mapping[str, str] = field(default_factory=dict)
    resolved: bool = False
    # The same id reaches every channel and every retry, so a receiver can
    # drop the duplicate that at-least-once delivery may bring after a crash.
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"unknown alert event {self.event!r} (see rotator.alerts.EVENTS)")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        facts: dict[str, str] = {}
        for key, value in self.facts.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"alert facts are strings, got {key!r}: {type(value).__name__}")
            facts[redact(key)] = redact(value)
        setter = object.__setattr__  # frozen: normalise once, here
        setter(self, "facts", MappingProxyType(facts))
        setter(self, "subject", redact(self.subject))
        setter(self, "title", redact(self.title))
        setter(self, "text", redact(self.text))
        setter(self, "occurred_at", _utc(self.occurred_at))

    @classmethod
    def of(
        cls,
        event: str,
        subject: str,
        *,
        title: str,
        text: str,
        occurred_at: datetime,
        facts: Mapping[str, str] | None = None,
        resolved: bool = False,
        severity: Severity | None = None,
    ) -> Alert:
        """An alert with the event's default severity (``info`` once resolved)."""
        if event not in EVENTS:
            raise ValueError(f"unknown alert event {event!r} (see rotator.alerts.EVENTS)")
        if severity is None:
            severity = "info" if resolved else EVENTS[event].severity
        return cls(
            event=event,
            subject=subject,
            severity=severity,
            title=title,
            text=text,
            occurred_at=occurred_at,
            facts=dict(facts or {}),
            resolved=resolved,
        )

    @property
    def condition(self) -> str:
        """The de-duplication key: ``<event>:<subject>``."""
        return f"{self.event}:{self.subject}"

    @property
    def headline(self) -> str:
        """The title as operators see it: ``RESOLVED: ...`` once the condition cleared."""
        return f"RESOLVED: {self.title}" if self.resolved else self.title

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "subject": self.subject,
            "severity": self.severity,
            "resolved": self.resolved,
            "title": self.title,
            "text": self.text,
            "facts": dict(self.facts),
            "occurred_at": self.occurred_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        """The alert back from :meth:`to_json` (how the outbox keeps it)."""
        return cls(
            id=str(data["id"]),
            event=str(data["event"]),
            subject=str(data["subject"]),
            severity=data["severity"],
            resolved=bool(data["resolved"]),
            title=str(data["title"]),
            text=str(data["text"]),
            facts={str(k): str(v) for k, v in dict(data["facts"]).items()},
            occurred_at=datetime.fromisoformat(str(data["occurred_at"])),
        )


@dataclass(frozen=True)
class Request:
    """What a channel asks the base class to POST."""

    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def json_body(document: Any) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are sent (and signed)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def public_origin(url: str) -> str:
    """``scheme://host[:port]`` only: a webhook's path or query may hold a secret."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


class ChannelConfig(Strict):
    """One ``[[alerts]]`` table; each channel module subclasses it."""

    type: str  # narrowed to the channel's Literal["<type>"] by each subclass
    name: Name | None = None

    @abc.abstractmethod
    def build(self, name: str) -> Channel:
        """The channel called ``name``; reads its secret files now, sends nothing.

        Raises :class:`rotator.errors.ConfigError` (without the secret) when
        a secret cannot be read or is malformed: that is its ``config check``.
        """


class Channel(abc.ABC):
    """Where alerts go. Subclasses build the request; this class sends it."""

    type: ClassVar[str] = ""
    Config: ClassVar[builtins.type[ChannelConfig]]

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self._url = url
        self.target = public_origin(url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.target})"

    def describe(self) -> str:
        """What sending an alert does, in one line without a secret (for dry runs)."""
        return f"POST each alert as JSON to {self.target} (channel {self.name}, {self.type})"

    @abc.abstractmethod
    def _request(self, alert: Alert) -> Request:
        """The request that delivers ``alert`` (built fresh for every attempt)."""

    def _secret_parts(self) -> list[str]:
        """Text that must never appear in an error message or a log line."""
        parts = urlsplit(self._url)
        # The last segment alone is the token of most webhook URLs (Slack, Discord).
        last = parts.path.rstrip("/").rsplit("/", 1)[-1]
        found = [self._url, parts.path, parts.query, parts.password or ""]
        # Short pieces ("/", "a") would blank out ordinary words in messages.
        return [part for part in found if len(part) >= 6] + ([last] if len(last) >= 16 else [])

    def scrub(self, text: str) -> str:
        """``text`` without any alert secret or anything shaped like a token."""
        for part in sorted(self._secret_parts(), key=len, reverse=True):
            text = text.replace(part, "[redacted]")
        return redact(_KNOWN_SECRETS.scrub(text))

    def send(self, alert: Alert, http: httpx.Client) -> None:
        """Deliver ``alert`` now or raise :class:`AlertError` (never with a secret in it)."""
        request = self._request(alert)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        headers.update(request.headers)
        try:
            response = http.post(
                request.url, content=request.body, headers=headers, timeout=SEND_TIMEOUT
            )
        except httpx.HTTPError as exc:
            detail = self.scrub(str(exc)) or "no detail"
            raise AlertError(
                self.name,
                f"no answer from {self.target}: {type(exc).__name__}: {detail}",
                transient=isinstance(exc, httpx.TransportError),
            ) from exc
        if not response.is_success:
            status = response.status_code
            raise AlertError(
                self.name,
                f"{self.target} answered {status}{self._why(response)}",
                transient=status == 429 or status >= 500,
            )

    def _why(self, response: httpx.Response) -> str:
        """A short, scrubbed reason from an error body (Slack says e.g. ``no_service``)."""
        try:
            text = response.text
        except (httpx.HTTPError, UnicodeDecodeError):
            return ""
        # Scrub before cutting: a cut token no longer looks like a token.
        text = self.scrub(" ".join(text.split()))[:120]
        return f" ({text})" if text else ""


class _KnownSecrets(logging.Filter):
    """Every alert secret rotator holds (Slack URLs, signing secrets), to scrub anywhere.

    As a filter on the ``httpx`` logger it keeps secret URLs out of httpx's
    ``HTTP Request:`` lines; :meth:`Channel.scrub` uses it too, so a receiver
    that echoes another channel's secret cannot carry it into an error.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        with self._lock:
            self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_KNOWN_SECRETS = _KnownSecrets()
_filter_installed = False
_install_lock = threading.Lock()


def register_secret(secret: str) -> None:
    """Never let ``secret`` reach a log record through httpx, or any channel's error.

    httpx logs every request's URL at INFO. A filter on the ``httpx`` logger
    itself runs before any handler (pytest's caplog, journald, a JSON
    shipper), so every destination sees the scrubbed line. It is installed on
    first use, never at import time.
    """
    global _filter_installed
    with _install_lock:
        if not _filter_installed:
            logging.getLogger("httpx").addFilter(_KNOWN_SECRETS)
            _filter_installed = True
    if secret:
        _KNOWN_SECRETS.add(secret)
