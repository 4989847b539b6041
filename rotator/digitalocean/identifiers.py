"""The shapes of identifiers DigitalOcean hands out, and the one path-segment encoder.

An identifier read from an answer ends up in a request path, an App Platform
env var, a Vault secret, the store and log lines. A wrong or hostile answer
(``"access_key": "../../apps/<id>"``) must therefore be refused where the
answer is parsed, before anything uses it: every parser in this package
checks each identifier it keeps with :func:`checked` against the documented
shape below, and a mismatch is a :class:`~rotator.errors.DigitalOceanError`
("a bad answer"), never a value passed on.

The shapes, from DigitalOcean's OpenAPI description (``components/schemas``
and ``components/parameters``):

* ``key.access_key`` (Spaces access key id, also the ``{access_key}`` path
  parameter): a string, example ``DOACCESSKEYEXAMPLE``; real ones are
  ``DO`` and 18 more of ``A-Z0-9``. Checked as 1 to 128 of ``A-Z0-9``.
* ``key.name``: free text (example ``my-access-key``). Checked as 1 to 255
  characters without control or line-separator characters.
* ``grant.bucket`` and ``grant.permission``: a bucket name (S3 rules: 3 to 63
  of ``a-z0-9.-``, starting and ending alphanumeric) or ``""`` for every
  bucket; ``read``, ``readwrite``, ``fullaccess`` or ``""``.
* ``app.id``, ``apps_deployment.id`` (the ``{id}``, ``{app_id}`` and
  ``{deployment_id}`` path parameters): UUIDs, example
  ``4f6c71e2-1e90-4762-9fee-6cc4a0a9f2cf``.
* ``account.uuid``, ``account.team.uuid``: opaque ids, examples
  ``b6fr89dbf6d9156cace5f3c78dc9851d957381ef`` (40 characters, not hex) and a
  UUID. Checked as 1 to 64 of ``A-Za-z0-9-``.

Every request path built from a variable goes through :func:`segment` (or
:func:`api_path`), which percent-encodes everything outside RFC 3986's
unreserved characters (``/``, ``?``, ``#``, ``%``, spaces, newlines and
non-ASCII included) and refuses the empty, ``.`` and ``..`` segments that
no encoding makes safe.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from rotator.errors import DigitalOceanError
from rotator.logs import redact

ACCESS_KEY = re.compile(r"[A-Z0-9]{1,128}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
ACCOUNT_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
BUCKET = re.compile(r"|[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
PERMISSION = re.compile(r"|read|readwrite|fullaccess")
# Printable text: no C0/C1 controls, DEL, line or paragraph separators.
TEXT = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,255}")
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9:.]+([Zz]|[+-][0-9:]+)?")

_SHOWN = 40


def is_access_key(value: object) -> bool:
    """Whether *value* has the shape of a Spaces access key id."""
    return isinstance(value, str) and ACCESS_KEY.fullmatch(value) is not None


def checked(value: Any, shape: re.Pattern[str], what: str, where: str) -> str:
    """*value* if it is a string of *shape*; else a DigitalOceanError naming *what* and *where*.

    The message shows a bounded, escaped, redacted ``repr`` of the value,
    never more than 40 characters of it, so a hostile answer can neither
    flood nor break the error line, nor make it show a token.
    """
    if isinstance(value, str) and shape.fullmatch(value):
        return value
    raise DigitalOceanError(
        f"bad answer to {where}: {what} is {_show(value)}, not {_SHAPES[shape]}"
    )


def segment(value: str) -> str:
    """*value* percent-encoded as one path segment; refuses ``""``, ``.`` and ``..``."""
    if value in ("", ".", ".."):
        raise DigitalOceanError(f"refusing {value!r} as a path segment of a request")
    return quote(value, safe="")


def api_path(template: str, *values: str) -> str:
    """*template* with each ``{}`` replaced by a value encoded by :func:`segment`.

    ``api_path("/v2/apps/{}/deployments/{}", app_id, deployment_id)``.
    """
    return template.format(*(segment(value) for value in values))


def _show(value: Any) -> str:
    if not isinstance(value, str):
        return "missing" if value is None else f"not a string ({type(value).__name__})"
    # Redacted before it is cut, so a token echoed back never shows even in part.
    text = redact(ascii(value))
    return text if len(text) <= _SHOWN else text[: _SHOWN - 4] + "...'"


_SHAPES: dict[re.Pattern[str], str] = {
    ACCESS_KEY: "an access key id (A-Z, 0-9)",
    UUID: "a UUID",
    ACCOUNT_ID: "an id (A-Z, a-z, 0-9, -)",
    BUCKET: "a bucket name",
    PERMISSION: "read, readwrite, fullaccess or empty",
    TEXT: "one line of at most 255 characters",
    TIMESTAMP: "a date-time",
}
