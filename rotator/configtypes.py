"""The building blocks every config model uses: strict models, durations, names, secrets.

Sinks and alert channels define their own config models from these, so they
never import :mod:`rotator.settings` (which sits above them and assembles
the whole file's model from their registries).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

from rotator import files
from rotator.durations import parse_duration
from rotator.errors import ConfigError
from rotator.secret import Secret

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ENV_KEY_PATTERN = r"^[_A-Za-z][_A-Za-z0-9]*$"
HTTP_URL_PATTERN = r"^https?://[^\s/]+(/\S*)?$"
SCOPE_PATTERN = r"^[a-z_]+:[a-z_]+$"

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
EnvKey = Annotated[str, Field(pattern=ENV_KEY_PATTERN)]
HttpUrl = Annotated[str, Field(pattern=HTTP_URL_PATTERN)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _MustBeReadable:
    """Marks a ``Path`` field as a file rotator reads (a secret, a CA bundle)."""

    def __repr__(self) -> str:
        return "must be readable"


ReadableFile = Annotated[Path, _MustBeReadable()]


def _readable(annotation: object) -> bool:
    """Whether a field's type is :data:`ReadableFile`, bare or inside ``| None``."""
    if get_origin(annotation) is Annotated:
        return any(isinstance(mark, _MustBeReadable) for mark in get_args(annotation)[1:])
    return any(_readable(argument) for argument in get_args(annotation))


"""A file rotator reads: ``config check`` proves it readable. Every ``*_file``
secret and every CA bundle is one; a path rotator only writes is a plain Path."""

# How a pattern mismatch is explained to the operator.
PATTERN_MEANING = {
    NAME_PATTERN: "a valid name (lowercase letters, digits, - and _, at most 63, "
    "starting with a letter or digit)",
    ENV_KEY_PATTERN: "a valid environment variable name (letters, digits and _, "
    "not starting with a digit)",
    HTTP_URL_PATTERN: "an http:// or https:// URL",
    SCOPE_PATTERN: "a scope such as droplet:read",
}


class Strict(BaseModel):
    """A config table: unknown keys are errors, values are frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def files(self, where: str = "") -> Iterator[tuple[str, Path]]:
        """Every file this table (and the tables inside it) reads, with its location.

        ``("policies[0].sinks[1].token_file", Path(...))``: what ``config
        check`` proves readable. A plugin gets this for free by declaring its
        secret files (``*_file``) and CA files as :data:`ReadableFile` fields.
        """
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            location = f"{where}.{name}" if where else name
            if isinstance(value, Path) and (
                _readable(info.annotation)
                or any(isinstance(m, _MustBeReadable) for m in info.metadata)
            ):
                yield location, value
            elif isinstance(value, Strict):
                yield from value.files(location)


def one_of(model: BaseModel, inline: str, from_file: str, *, required: bool = True) -> None:
    """Check that a secret-bearing field is given inline or as a file, not both."""
    given = [name for name in (inline, from_file) if getattr(model, name) is not None]
    if len(given) > 1:
        raise ValueError(f"set {inline} or {from_file}, not both")
    if required and not given:
        raise ValueError(f"set {inline} or {from_file}")


def read_secret(inline: SecretStr | None, from_file: Path | None, what: str) -> Secret:
    """The secret from its inline value or its ``*_file`` (surrounding whitespace dropped).

    The file is read by :func:`rotator.files.read_secret`: a regular file only
    (a FIFO cannot hang us), size-capped, strict UTF-8, not empty.
    """
    if inline is not None:
        return Secret(inline.get_secret_value())
    if from_file is None:
        raise ConfigError("config", [f"{what}: no value and no file given"])
    return files.read_secret(from_file, what=what)


def seconds(value: timedelta) -> float:
    """A duration as the float seconds clocks and HTTP timeouts take."""
    return value.total_seconds()
