"""A ``postgresql://`` URL that never shows its password.

The URL is handed to libpq untouched (so ``sslmode``, ``sslrootcert`` and
every other parameter pass through); rotator only reads it to name the store
in messages (``database "rotator" on db.example.com:25060 as doadmin``) and
scrubs the password from any text that leaves: error messages, log lines,
``repr``. libpq's own messages never quote a password once the URL parses,
but its parse errors quote the bad token, which may be the password: those
lose every quoted token.
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus, urlsplit

from rotator.errors import ConfigError
from rotator.secret import Secret

SCHEMES = ("postgresql://", "postgres://")
_QUOTED = re.compile(r'"[^"]*"')
_SPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Driver messages span lines (hints, ``LINE 1:``); an error is one line."""
    return _SPACE.sub(" ", text).strip()


class DatabaseUrl:
    """A PostgreSQL connection URL: usable by the driver, printable without its password."""

    __slots__ = ("_hidden", "_url", "database", "host", "port", "user")

    def __init__(self, url: Secret) -> None:
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        self._url = url
        raw = url.reveal()
        self._hidden = _userinfo_parts(raw)
        if not raw.startswith(SCHEMES):
            raise ConfigError("database URL", ["must start with postgresql:// (or postgres://)"])
        try:
            params = conninfo_to_dict(raw)
        except ProgrammingError as exc:
            reason = one_line(self.scrub(_QUOTED.sub("(…)", str(exc))))
            raise ConfigError("database URL", [f"not valid ({reason})"]) from None
        password = params.get("password")
        if isinstance(password, str) and password:
            self._hidden |= {password, quote(password, safe=""), quote_plus(password)}
        self.host = str(params.get("host") or params.get("hostaddr") or "localhost")
        self.port = str(params.get("port") or "5432")
        self.user = str(params.get("user") or "")
        self.database = str(params.get("dbname") or self.user or "postgres")

    def reveal(self) -> str:
        """The URL itself, password included: only for the driver."""
        return self._url.reveal()

    @property
    def where(self) -> str:
        """The store as messages name it: database, host, port and user, never the password."""
        who = f" as {self.user}" if self.user else ""
        return f'PostgreSQL database "{self.database}" on {self.host}:{self.port}{who}'

    def scrub(self, text: str) -> str:
        """``text`` with the password (in every spelling) and the whole URL replaced."""
        for hidden in sorted(self._hidden, key=len, reverse=True):
            text = text.replace(hidden, "***")
        return text

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.where})"

    __str__ = __repr__


def _userinfo_parts(raw: str) -> set[str]:
    """The URL itself, its ``user:password`` part and password, as written (still encoded)."""
    hidden = {raw} if raw else set()
    try:
        netloc = urlsplit(raw).netloc
    except ValueError:
        netloc = raw.split("@", 1)[0]
    userinfo = netloc.rpartition("@")[0]
    if userinfo:
        hidden.add(userinfo)
        password = userinfo.partition(":")[2]
        if password:
            hidden.add(password)
    for match in re.finditer(r"[?&]password=([^&]*)", raw):
        if match[1]:
            hidden.add(match[1])
    return hidden
