"""Logging to stderr, plain or JSON, with a last-line defence against leaks.

Secrets travel as :class:`rotator.secret.Secret`, so they should never reach a
log record; the :class:`RedactingFilter` still scrubs anything shaped like a
DigitalOcean token from every message, in case a third-party library echoes
one back.

Every message is also kept to one line: :func:`one_line` escapes control
characters (newline, carriage return, escape, DEL, C1 controls), Unicode line
and paragraph separators and bidirectional overrides, so text from a peer or
a file (an id, an error message) can neither forge a log line nor drive the
terminal. The CLI's ``error:`` line goes through the same function.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

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


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure(
    *, log_format: str = "plain", level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Send rotator's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; keep it at WARNING unless debugging.
    logging.getLogger("httpx").setLevel("DEBUG" if level == "DEBUG" else "WARNING")
    logging.getLogger("httpcore").setLevel("WARNING")
