"""The file sink's config table: the path, the format and fields, mode and owner, reload, check.

``[[policy.sink]] type = "file"``: everything that can be judged without
touching the host is judged when the config is read (an absolute path, a
mode others cannot read, a known field for every output name, a check URL on
loopback, no secret placeholder in a check); the sink itself is
:mod:`rotator.sinks.file`.
"""

from __future__ import annotations

import urllib.parse
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator, model_validator

from rotator.configtypes import Duration, NonEmpty, ReadableFile
from rotator.errors import SinkError
from rotator.sinks.base import SinkConfig, SinkDeps
from rotator.sinks.file_format import (
    DEFAULT_FIELDS,
    DOCKER_NAMES,
    ENV_NAME,
    KNOWN_FIELDS,
    Format,
    FormatError,
    placeholders,
)

if TYPE_CHECKING:
    from rotator.sinks.file import FileSink

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
Argv = Annotated[list[NonEmpty], Field(min_length=1)]


class FileSinkConfig(SinkConfig):
    """``type = "file"``: a local file the credential is written to, then a reload and a check."""

    type: Literal["file"]
    path: Path
    format: Format = "env"
    fields: dict[str, str] | None = None  # output name -> credential field
    template: str | None = None
    template_file: ReadableFile | None = None
    mode: Annotated[str, Field(pattern=r"^0?[0-7]{3}$")] = "0600"
    owner: NonEmpty | Annotated[int, Field(ge=0)] | None = None  # a name or an id
    group: NonEmpty | Annotated[int, Field(ge=0)] | None = None
    keep_previous: bool = True
    reload: Argv | None = None
    reload_timeout: Duration = timedelta(seconds=30)
    check: str | Argv | None = None
    check_timeout: Duration = timedelta(seconds=30)

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        if not path.is_absolute() or path.name in ("", ".", ".."):
            raise ValueError("must be an absolute path to a file")
        return path

    @field_validator("mode")
    @classmethod
    def _private(cls, mode: str) -> str:
        if int(mode, 8) & 0o007:
            raise ValueError(f"{mode} lets every user on the host use the file; use 0600 or 0640")
        return mode

    @model_validator(mode="after")
    def _consistent(self) -> FileSinkConfig:
        if self.format == "template":
            if (self.template is None) == (self.template_file is None):
                raise ValueError("format template needs template or template_file (one)")
            if self.fields is not None:
                raise ValueError("a template names the credential's fields itself; drop fields")
            if self.template is not None:
                _checked(self.template, "template")
        elif self.template is not None or self.template_file is not None:
            raise ValueError("template and template_file need format = 'template'")
        else:
            mapping = self.output_fields
            for field in mapping.values():
                if field not in KNOWN_FIELDS:
                    known = ", ".join(sorted(KNOWN_FIELDS))
                    raise ValueError(f"fields: unknown field {field!r} (known: {known})")
            if self.format == "env" and not all(ENV_NAME.match(name) for name in mapping):
                raise ValueError("fields: every name must be a valid environment variable name")
            if self.format == "dockerconfigjson" and set(mapping) != DOCKER_NAMES:
                raise ValueError(
                    "fields: dockerconfigjson maps exactly registry, username, password"
                )
            if not mapping:
                raise ValueError("fields: map at least one name")
        if isinstance(self.check, str):
            url = urllib.parse.urlsplit(self.check)
            if url.scheme not in ("http", "https") or url.hostname not in LOOPBACK_HOSTS:
                raise ValueError("check: a URL must be http(s) on loopback (127.0.0.1, ::1)")
            if url.username or url.password:
                raise ValueError("check: no credentials in the URL")
        for part in [self.check] if isinstance(self.check, str) else self.check or []:
            _checked(part, "check", secret_allowed=False)
        return self

    @property
    def output_fields(self) -> dict[str, str]:
        """Output name → credential field (the format's default unless ``fields`` is set)."""
        return dict(self.fields if self.fields is not None else DEFAULT_FIELDS[self.format])

    def default_label(self) -> str:
        return str(self.path)

    def build(self, deps: SinkDeps) -> FileSink:
        """The sink; reads ``template_file`` and resolves owner and group, touches nothing."""
        # The sink names this model as its Config, so it is imported here, not at the top.
        from rotator.sinks.file import FileSink

        label = self.label
        template = self.template
        if self.template_file is not None:
            try:
                template = self.template_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise SinkError(label, f"cannot read template_file {self.template_file}") from exc
            try:
                placeholders(template, what=f"template_file {self.template_file}")
            except FormatError as exc:
                raise SinkError(label, str(exc)) from None
        return FileSink(label, self, template=template, deps=deps)


def _checked(text: str, what: str, *, secret_allowed: bool = True) -> None:
    """:func:`placeholders` for a validator: its FormatError as the ValueError pydantic reports."""
    try:
        placeholders(text, what=what, secret_allowed=secret_allowed)
    except FormatError as exc:
        raise ValueError(str(exc)) from None
