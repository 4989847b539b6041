"""Logging to stderr, plain or JSON, with a last-line defence against leaks.

Secrets travel as :class:`rotator.secret.Secret`, so they should never reach a
log record; the :class:`RedactingFilter` still scrubs anything shaped like a
DigitalOcean token from every message, in case a third-party library echoes
one back.

Every message is also kept to one line: :func:`one_line` escapes control
characters (newline, carriage return, escape, DEL, C1 controls), Unicode line
and paragraph separators and bidirectional overrides, so text from a peer or
a file (an id, an error message) can neither forge a log line nor drive the
terminal. The filter is the one place a message's text is cleaned: log
records and the CLI's own ``error:``/``warning:`` lines (:func:`problem`) both
pass through it.

Formats:

- plain: ``2026-03-01 12:00:00,000 INFO rotator.engine.daemon: text``;
- under systemd (``$JOURNAL_STREAM`` names our stderr), no timestamp (the
  journal keeps its own) and an sd-daemon ``<N>`` priority prefix on every
  line, which journald turns into the entry's priority, so ``journalctl -p
  warning`` filters: ``<4>rotator.engine.jobs: job validate: ...`` (``<2>``
  critical, ``<3>`` error, ``<4>`` warning, ``<6>`` info, ``<7>`` debug);
- JSON: one object per line, ``time``, ``level``, ``logger``, ``message``,
  the structured fields :data:`FIELDS` when known, and ``exception``. Under
  systemd each line gets the ``<N>`` prefix too (journald strips it, the
  message stays pure JSON).

Structured fields come from ``extra={"policy": ...}`` on a call, or from
:func:`fields` around a block of work (a job's item, a sink's push), which
every record logged inside it carries, whichever module logs it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal, TextIO

TOKEN_SHAPE = re.compile(r"\bdo[opr]_v1_[0-9a-f]{64}\b")
BEARER_SHAPE = re.compile(r"(?i)(bearer\s+)\S+")


# C0 and C1 controls, DEL, NEL, line/paragraph separators, bidi embeddings,
# overrides and isolates: what can end a line or reorder or recolour it.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def redact(text: str) -> str:
    """Replace anything shaped like a DigitalOcean token or bearer credential."""
    return BEARER_SHAPE.sub(r"\1[redacted]", TOKEN_SHAPE.sub("[redacted-token]", text))


def one_line(text: str) -> str:
    """*text* on one line: control and bidi characters written as escapes (``\\n``, ``\\x1b``).

    Backslashes are left alone, so escaping twice changes nothing more.
    """
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    named = _NAMED.get(character)
    if named is not None:
        return named
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


class RedactingFilter(logging.Filter):
    """Render each record's message once, redacted and on one line, so no argument leaks later."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = one_line(redact(record.getMessage()))
        record.args = None
        return True


FIELDS = ("policy", "connection", "rotation_id", "sink", "job")
"""The structured fields a JSON log line carries when a record has them."""

_FIELDS: ContextVar[Mapping[str, str]] = ContextVar(
    "rotator_log_fields", default=MappingProxyType({})
)


@contextlib.contextmanager
def fields(**values: str | None) -> Iterator[None]:
    """Every record logged inside the block (in this thread) carries *values*."""
    known = {key: value for key, value in values.items() if value is not None}
    token = _FIELDS.set({**_FIELDS.get(), **known})
    try:
        yield
    finally:
        _FIELDS.reset(token)


class FieldsFilter(logging.Filter):
    """Stamp the structured fields of the current :func:`fields` block on each record.

    A value given with ``extra=`` on the call wins over the block's.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _FIELDS.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def priority(levelno: int) -> int:
    """The syslog priority of a logging level (sd-daemon's ``<N>`` prefix)."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def journal_stream(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether *stream* is the journal: ``$JOURNAL_STREAM`` (``dev:inode``) names it.

    systemd sets the variable for the service's stderr; comparing the device
    and inode (as sd_journal_stream_fd(3) advises) keeps a child whose stderr
    was redirected from writing journal prefixes into a file or pipe.
    """
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        status = os.fstat(stream.fileno())
        return (status.st_dev, status.st_ino) == (int(device), int(inode))
    except (OSError, ValueError, AttributeError):  # no such fd, not a number, a StringIO
        return False


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = str(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class JournalFormatter(logging.Formatter):
    """Another formatter's text with the record's ``<N>`` priority on every line."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).split("\n"))


@dataclass(frozen=True)
class _Output:
    stream: TextIO
    json: bool
    journal: bool


_output: _Output | None = None  # set by configure(); problem() prints the same way on its stream


def formatter(*, log_format: str, journal: bool) -> logging.Formatter:
    """The formatter for *log_format* (plain | json), journal-prefixed under systemd."""
    if log_format == "json":
        chosen: logging.Formatter = JsonFormatter()
    elif journal:
        chosen = logging.Formatter("%(name)s: %(message)s")  # journald keeps the time
    else:
        chosen = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    return JournalFormatter(chosen) if journal else chosen


def problem(
    stream: TextIO,
    level: Literal["error", "warning"],
    text: str,
    **structured: str | None,
) -> None:
    """Print the CLI's own ``error: ...`` or ``warning: ...`` line on *stream*.

    In JSON mode it is a JSON log line like any other (``logger`` is
    ``rotator.cli``); under systemd it carries its ``<3>``/``<4>`` priority.
    The text is cleaned by :class:`RedactingFilter`, like every log message.
    """
    levelno = logging.ERROR if level == "error" else logging.WARNING
    record = logging.LogRecord("rotator.cli", levelno, "", 0, "%s", (text,), None)
    for key, value in structured.items():
        if key in FIELDS and value is not None:
            setattr(record, key, value)
    RedactingFilter().filter(record)
    FieldsFilter().filter(record)
    output = _output
    if output is None or output.stream is not stream:  # before configure(), or elsewhere
        output = _Output(stream, json=False, journal=journal_stream(stream))
    line = JsonFormatter().format(record) if output.json else f"{level}: {record.getMessage()}"
    if output.journal:
        line = f"<{priority(levelno)}>{line}"
    stream.write(line + "\n")


def configure(
    *,
    log_format: str = "plain",
    level: str = "INFO",
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    journal: bool | None = None,
) -> None:
    """Send rotator's logs to stderr in the chosen format.

    *journal* (default: :func:`journal_stream` of the stream, from
    ``$JOURNAL_STREAM`` in *environ* or the process environment) drops the
    timestamp and adds the ``<N>`` priority prefixes.
    """
    global _output
    target = stream or sys.stderr
    if journal is None:
        journal = journal_stream(target, environ)
    _output = _Output(target, json=log_format == "json", journal=journal)
    handler = logging.StreamHandler(target)
    handler.addFilter(RedactingFilter())
    handler.addFilter(FieldsFilter())
    handler.setFormatter(formatter(log_format=log_format, journal=journal))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; keep it at WARNING unless debugging.
    logging.getLogger("httpx").setLevel("DEBUG" if level == "DEBUG" else "WARNING")
    logging.getLogger("httpcore").setLevel("WARNING")
