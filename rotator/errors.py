"""Every error rotator raises on purpose.

The CLI catches :class:`RotatorError` at the edge and prints ``error: <str>``
on one line with the class's exit code; anything else is a bug and is shown
with its traceback. No message, attribute or repr here ever holds a secret:
errors carry names, fingerprints, statuses and request ids only.

::

    RotatorError                      exit 1: the operation ran and hit a problem  (.transient)
    ├── UsageError                    exit 2: the command was asked for wrongly
    │   ├── InvalidTokenFormat        not an API token (or a refresh token)
    │   ├── InvalidName               a connection name that breaks the naming rule
    │   └── ConnectionNotFound        no connection by that name
    ├── ConfigError                   exit 2: settings or config file wrong (every problem)
    │   └── UnreadableFile            a named file is absent, irregular, too big or not UTF-8
    ├── MasterKeyError                exit 2: master key missing, unsafe, malformed or foreign
    ├── StoreError                    the store cannot be used
    │   ├── StoreLocked               another process holds the writer lock
    │   ├── StoreCorrupt              not a rotator store, truncated, or from a newer rotator
    │   ├── StoreNotInitialised       no store yet (run `rotator init`)
    │   ├── StoreUnsafe               state directory or lock file others could tamper with
    │   ├── ConnectionExists          the name is taken
    │   ├── RecordTampered            a sealed value fails authentication
    │   └── LeaseLost                 another replica took over an item this one was working on
    ├── DigitalOceanError             talking to the DigitalOcean API failed
    │   ├── TransportError        [T] no HTTP answer: timeout, refused, dropped connection
    │   └── APIError                  an HTTP error answer (status, error id, request id)
    │       ├── Unauthorized          401: token invalid, expired or revoked
    │       ├── Forbidden             403: valid token without the scope
    │       ├── NotFound              404
    │       ├── Unprocessable         400 or 422: the request was refused as invalid
    │       ├── RateLimited       [T] 429 (retry_after in seconds when known)
    │       └── ServerError       [T] 5xx
    ├── SinkError                 [t] a sink could not take or confirm a key
    ├── CredentialCheckFailed     [t] a new credential could not be prepared or proven (SQL)
    └── AlertError                [t] an alert channel could not deliver

``transient`` says whether the same call might succeed later without anyone
changing anything (a timeout, a 5xx, a 429, a sealed or unreachable Vault).
``[T]``: always transient (a class attribute). ``[t]``: transient per
instance, set where a third-party or DigitalOcean error is translated into
it (``SinkError(..., transient=True)``): a sink or alert error is transient
when its cause was. Everything else is not. Callers read ``exc.transient``
and never walk ``__cause__``:

- the clients retry transient errors within their budget, and a caller that
  still sees one must report "unknown", never "invalid";
- ``config check`` reports a transient failure as a note (the config may be
  right), a definite one as an error;
- the daemon's backoff and the alert outbox can tell a failure that passes
  on its own from one an operator must fix.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """*text* with each control character escaped (``\\n``, ``\\x1b``): it prints as one line."""
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], text)


class RotatorError(Exception):
    """Base of every error rotator raises on purpose; its message is always one line."""

    # A newline or terminal escape that came from outside (a server's message, a
    # file name, a config key) is escaped by __str__.

    exit_code = 1
    # Whether the same call might succeed later unchanged (see the module docstring).
    transient: bool = False

    def __str__(self) -> str:
        return one_line(super().__str__())


class UsageError(RotatorError):
    """The command was asked for wrongly."""

    exit_code = 2


class InvalidTokenFormat(UsageError):
    """The text given is not a DigitalOcean API token."""


class InvalidName(UsageError):
    """A connection or policy name breaks the naming rule."""


class ConnectionNotFound(UsageError):
    """No connection is registered under that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no connection named {name!r} (see `rotator connection list`)")
        self.name = name


class ConfigError(RotatorError):
    """The settings or the config file are wrong; lists every problem found."""

    exit_code = 2

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = f"{source}: {self.problems[0]}"
        else:
            text = f"{source}: {len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(text)


class UnreadableFile(ConfigError):
    """A file rotator was pointed at cannot be read safely (names the file, never its content)."""

    def __init__(
        self, what: str, path: object, reason: str, *, source: str = "config", missing: bool = False
    ) -> None:
        shown = str(path) if str(path).isprintable() else repr(str(path))
        problem = f"cannot read {shown}: {reason}"
        super().__init__(source, [f"{what}: {problem}" if what else problem])
        self.path = path
        self.reason = reason
        self.missing = missing


class MasterKeyError(RotatorError):
    """The master key is missing, unsafe, malformed or does not open this store."""

    exit_code = 2


class StoreError(RotatorError):
    """The store cannot be used."""


class StoreLocked(StoreError):
    """Another process holds the store's writer lock."""


class StoreCorrupt(StoreError):
    """The store file is not a rotator store, is damaged, or is from a newer rotator."""


class StoreNotInitialised(StoreError):
    """There is no store yet."""

    exit_code = 2


class LeaseLost(StoreError):
    """This replica's lease on an item expired or was taken over: its fenced write was refused."""

    # Raised by a fenced write (or a renewal) whose fencing token is no longer the
    # item's newest, or whose lease has expired by the database's clock: another
    # replica may be working on the item, so this one stops it.


class StoreUnsafe(StoreError):
    """The state directory or a lock file could be tampered with by someone else."""

    exit_code = 2


class ConnectionExists(StoreError):
    """A connection with that name is already registered."""

    exit_code = 2

    def __init__(self, name: str) -> None:
        super().__init__(f"a connection named {name!r} already exists")
        self.name = name


class RecordTampered(StoreError):
    """A sealed value failed authentication: it was altered or moved."""


class DigitalOceanError(RotatorError):
    """Talking to the DigitalOcean API failed."""


class TransportError(DigitalOceanError):
    """No HTTP answer came back: timeout, refused or dropped connection."""

    transient = True

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        where = f" ({method} {path})" if method else ""
        super().__init__(f"{message}{where}")
        self.method = method
        self.path = path


class APIError(DigitalOceanError):
    """DigitalOcean answered with an HTTP error status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_id: str | None = None,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.message = message
        self.error_id = error_id
        self.request_id = request_id
        self.method = method
        self.path = path
        parts = [f"DigitalOcean answered {status}"]
        if error_id:
            parts.append(f"({error_id})")
        if method:
            parts.append(f"to {method} {path}")
        text = " ".join(parts)
        if message:
            text += f": {message}"
        if request_id:
            text += f" [request id {request_id}]"
        super().__init__(text)


class Unauthorized(APIError):
    """401: the token is invalid, expired or revoked."""


class Forbidden(APIError):
    """403: the token is valid but lacks the scope for this call."""


class NotFound(APIError):
    """404: no such resource."""


class Unprocessable(APIError):
    """400 or 422: the request was refused as invalid."""


class RateLimited(APIError):
    """429: the token's rate limit is spent for now."""

    transient = True

    def __init__(self, *args: object, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: DigitalOcean failed to answer properly."""

    transient = True


class SinkError(RotatorError):
    """A sink could not take or confirm a key."""

    def __init__(self, sink: str, message: str, *, transient: bool = False) -> None:
        super().__init__(f"sink {sink}: {message}")
        self.sink = sink
        self.transient = transient


class CredentialCheckFailed(RotatorError):
    """A new credential could not be prepared or proven (a database grant or login)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class AlertError(RotatorError):
    """An alert channel could not deliver."""

    def __init__(self, channel: str, message: str, *, transient: bool = False) -> None:
        super().__init__(f"alert channel {channel}: {message}")
        self.channel = channel
        self.transient = transient


def api_error_for_status(status: int) -> type[APIError]:
    """The APIError subclass for an HTTP status."""
    if status == 401:
        return Unauthorized
    if status == 403:
        return Forbidden
    if status == 404:
        return NotFound
    if status in (400, 422):
        return Unprocessable
    if status == 429:
        return RateLimited
    if status >= 500:
        return ServerError
    return APIError
