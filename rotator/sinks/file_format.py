"""What the ``file`` sink writes: the four formats, rendered from named fields and read back.

Pure functions, no I/O. A format turns ``{output name: value}`` into bytes and
reads those bytes back into the same mapping (so ``holds`` can tell which
access key a file holds). A template names the credential's fields itself
(``{access_key}``); the other formats go through the sink's ``fields`` table.
"""

from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import Mapping
from typing import Literal

Format = Literal["env", "json", "dockerconfigjson", "template"]

# Every field a credential kind hands sinks, and whether its value is secret.
# A name outside this table is refused when the config is read; a secret
# field may go into the file but never into a check URL or an argv.
KNOWN_FIELDS: Mapping[str, bool] = {
    "access_key": False,
    "secret_key": True,
    "key_id": False,
    "secret": True,
    "username": False,
    "password": True,
    "host": False,
    "port": False,
    "database": False,
    "uri": True,
    "dockerconfigjson": True,
    "registry": False,
    "api_key": True,
}

DEFAULT_FIELDS: Mapping[str, Mapping[str, str]] = {
    "env": {"SPACES_ACCESS_KEY": "access_key", "SPACES_SECRET_KEY": "secret_key"},
    "json": {"access_key": "access_key", "secret_key": "secret_key"},
    "dockerconfigjson": {"registry": "registry", "username": "username", "password": "password"},
}

DOCKER_NAMES = frozenset({"registry", "username", "password"})
ENV_NAME = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_BARE = re.compile(r"^[A-Za-z0-9_./+:@=,%-]*$")


class FormatError(ValueError):
    """A value the format cannot hold, or a template that names no known field."""


def placeholders(text: str, *, what: str, secret_allowed: bool = True) -> list[str]:
    """The field names ``{name}`` in *text*, checked: known, plain, and secret only if allowed."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise FormatError(f"{what}: {exc} (write {{{{ and }}}} for literal braces)") from exc
    names = []
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise FormatError(
                f"{what}: {{{name}}} is not a plain field name such as {{access_key}}"
            )
        if name not in KNOWN_FIELDS:
            known = ", ".join(sorted(KNOWN_FIELDS))
            raise FormatError(f"{what}: unknown field {{{name}}} (known fields: {known})")
        if KNOWN_FIELDS[name] and not secret_allowed:
            raise FormatError(f"{what}: {{{name}}} is secret and must not appear here")
        names.append(name)
    return names


def fill(text: str, values: Mapping[str, str]) -> str:
    """*text* with its ``{name}`` placeholders replaced (names checked by :func:`placeholders`)."""
    return string.Formatter().vformat(text, (), dict(values))


def render(
    kind: Format, values: Mapping[str, str], *, template: str | None = None, header: str = ""
) -> bytes:
    """The file's bytes: *values* maps output names (template: field names) to plain text."""
    if kind == "env":
        lines = [f"# {header}"] if header else []
        lines += [f"{name}={_env_value(name, value)}" for name, value in values.items()]
        return ("\n".join(lines) + "\n").encode()
    if kind == "json":
        return (json.dumps(dict(values), indent=2) + "\n").encode()
    if kind == "dockerconfigjson":
        user, password = values["username"], values["password"]
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        entry = {"username": user, "password": password, "auth": auth}
        return (json.dumps({"auths": {values["registry"]: entry}}, indent=2) + "\n").encode()
    assert template is not None
    return fill(template, values).encode()


def parse(kind: Format, content: bytes, *, template: str | None = None) -> dict[str, str]:
    """What :func:`render` wrote, read back; empty when the content is not in that format."""
    try:
        text = content.decode()
    except UnicodeDecodeError:
        return {}
    if kind == "env":
        return _parse_env(text)
    if kind == "template":
        assert template is not None
        return _parse_template(template, text)
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    if kind == "dockerconfigjson":
        auths = document.get("auths") if isinstance(document, dict) else None
        if not isinstance(auths, dict) or len(auths) != 1:
            return {}
        [(registry, entry)] = auths.items()
        if not isinstance(entry, dict):
            return {}
        document = {"registry": registry, **entry}
    if not isinstance(document, dict):
        return {}
    return {str(k): v for k, v in document.items() if isinstance(v, str)}


def _env_value(name: str, value: str) -> str:
    # Bare when plain, else single-quoted: systemd's EnvironmentFile= and docker
    # compose's env_file both take a single-quoted value literally.
    if _BARE.match(value):
        return value
    if "'" in value or "\n" in value or "\r" in value or "\0" in value:
        raise FormatError(f"the value of {name} holds a quote or a line break an env file cannot")
    return f"'{value}'"


def _parse_env(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        name, equals, value = line.strip().partition("=")
        if not equals or name.startswith("#") or not ENV_NAME.match(name):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[name] = value
    return found


def _parse_template(template: str, text: str) -> dict[str, str]:
    # The template as a pattern: literal text matched exactly, each field lazily.
    pattern, seen = "", set()
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if name is not None:
            pattern += f"(?P={name})" if name in seen else f"(?P<{name}>.*?)"
            seen.add(name)
    match = re.fullmatch(pattern, text, flags=re.DOTALL)
    return dict(match.groupdict()) if match else {}
