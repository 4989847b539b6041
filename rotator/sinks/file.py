"""The ``file`` sink: the credential's fields in a local file, then a reload and a check.

For software on a Droplet (a systemd service's ``EnvironmentFile=``, docker
compose's ``env_file``, a mounted JSON file). A push:

1. renders the file (``env``, ``json``, ``dockerconfigjson`` or a template)
   from the credential's named fields; a file that already holds exactly
   that (same bytes, mode and owner) is not written again;
2. keeps the file it replaces as ``<path>.previous`` (until the previous key
   is revoked), written with the same care as the file itself;
3. writes atomically: a temp file in the same directory, created
   ``O_EXCL|O_NOFOLLOW`` with the final mode, owner and group set before the
   rename, fsynced, renamed over the path, the directory fsynced. A reader
   sees the old file or the new one, never a part;
4. runs ``reload`` (an argv, no shell, bounded by ``reload_timeout``; its
   process group is killed when late); exit status 0 is required;
5. runs ``check`` until it passes or ``check_timeout`` ends: a loopback URL
   answering 2xx, or an argv exiting 0. It is the proof the consumer uses
   the new value; ``{access_key}`` (any non-secret field) may appear in it.

Confirmed once reload and check passed. On a failure the file is put back as
it was (the old key stays current and alive, and the next run pushes
again) and a :class:`~rotator.errors.SinkError` says why in one line.

Secrets reach the file only: a child gets no secret in its argv or its
environment (only ``PATH``, ``LANG`` and ``ROTATOR_FILE``), and its output is
capped and stripped of every secret value before it is shown.

This module holds the push's decisions; :mod:`~rotator.sinks.file_config`
the config table; :mod:`~rotator.sinks.file_format` renders and reads back
the four formats (pure functions) and :mod:`~rotator.sinks.file_os` writes
the files and runs ``reload`` and ``check`` within their bounds.
"""

from __future__ import annotations

import builtins
import grp
import logging
import os
import pwd
import stat
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

from rotator.durations import format_duration
from rotator.errors import SinkError
from rotator.secret import Secret
from rotator.sinks.base import (
    Confirmation,
    Credential,
    PushContext,
    Sink,
    SinkConfig,
    SinkDeps,
)
from rotator.sinks.file_config import FileSinkConfig
from rotator.sinks.file_format import (
    KNOWN_FIELDS,
    FormatError,
    parse,
    placeholders,
    render,
)
from rotator.sinks.file_os import (
    NotPlain,
    Proof,
    plain_or_absent,
    read_nofollow,
    remove,
    write_atomically,
)

__all__ = ["FileSink", "FileSinkConfig"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class FileSink(Sink):
    """A local file (env, JSON, docker config or template), reloaded and checked."""

    type: ClassVar[str] = "file"
    Config: ClassVar[builtins.type[SinkConfig]] = FileSinkConfig

    def __init__(
        self, label: str, config: FileSinkConfig, *, template: str | None, deps: SinkDeps
    ) -> None:
        super().__init__(label)
        self.config = config
        self.path = config.path
        self.previous = config.path.with_name(config.path.name + ".previous")
        self._template = template
        self._mode = int(config.mode, 8)
        self._uid = _resolve(label, config.owner, "owner")
        self._gid = _resolve(label, config.group, "group")
        self.proof = Proof(
            label,
            config.path,
            reload=config.reload,
            reload_timeout=config.reload_timeout,
            check=config.check,
            check_timeout=config.check_timeout,
            sleep=deps.sleep,
            monotonic=deps.monotonic,
            interval=min(deps.poll_interval, 0.5),
        )

    # -- the contract ------------------------------------------------------------

    def check(self) -> None:
        """The directory exists and we may write it, the path is a plain file or absent,
        owner/group can be set, the commands exist; a check URL is reachable. Writes nothing."""
        directory = self.path.parent
        if not directory.is_dir():
            raise SinkError(self.label, f"directory {directory} does not exist")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise SinkError(self.label, f"directory {directory} is not writable by rotator")
        for path in (self.path, self.previous):
            self._plain_or_absent(path)
        if self._uid not in (-1, os.geteuid()) and os.geteuid() != 0:
            raise SinkError(self.label, f"only root may give the file to owner {self.config.owner}")
        if self._gid not in (-1, *os.getgroups(), os.getegid()) and os.geteuid() != 0:
            raise SinkError(self.label, f"rotator is not in group {self.config.group}")
        self.proof.prove_commands()
        self.proof.probe({"access_key": self.holds() or ""})

    def describe_push(self, access_key: str, context: PushContext) -> list[str]:
        """What a push would write and run: field names, never values."""
        names = self._names()
        lines = []
        if self.config.keep_previous:
            lines.append(
                f"keep the current file as {self.previous.name} until the old key is revoked"
            )
        owner = f", owner {self.config.owner}" if self.config.owner is not None else ""
        group = f", group {self.config.group}" if self.config.group is not None else ""
        lines.append(
            f"write {self.path} atomically ({self.config.format}: {names}; "
            f"mode {self.config.mode}{owner}{group}) holding access key {access_key}"
        )
        if self.config.reload:
            within = format_duration(self.config.reload_timeout)
            lines.append(f"run {' '.join(self.config.reload)} (within {within})")
        if self.config.check is not None:
            shown = self.proof.shown({"access_key": access_key})
            lines.append(
                f"wait until {shown} passes (within {format_duration(self.config.check_timeout)})"
            )
        return lines

    def push(self, keys: Credential, context: PushContext) -> Confirmation:
        """Write the file, reload, check; put the file back as it was on any failure."""
        fields = keys.fields()
        content = self._render(fields, context)
        old = self._read(self.path)
        # What a child might echo: the new secrets, and the old ones in the files it may read.
        hidden = _hidden(fields) + [
            secret
            for known in (content, old, self._read(self.previous))
            for secret in self._secrets_in(known)
        ]
        unchanged = old == content and self._owned_as_wanted()
        values = {name: value for name, value in fields.items() if isinstance(value, str)}
        if (
            unchanged
            and self.config.check is not None
            and self.proof.check_once(values, hidden, timeout=10.0)
        ):
            return self._confirmed(content, reloaded=False)  # a repeated push: already served
        before = old
        if unchanged:
            before = self._read(self.previous) if self.config.keep_previous else None
        else:
            if old is not None and self.config.keep_previous:
                self._write(self.previous, old)
            self._write(self.path, content)
            log.info("file %s: wrote access key %s (%s)", self.path, keys.access_key, self._names())
        reloaded = False
        try:
            reloaded = self.proof.reload(hidden)
            self.proof.wait(values, hidden)
        except SinkError as error:
            if before is not None:
                self._write(self.path, before)  # the old key stays in force
                undone = "put back as it was"
            elif not unchanged:
                self._remove(self.path)  # there was no file before this push
                undone = "removed again"
            else:
                raise
            if reloaded:  # best effort: the consumer back on the old key
                self.proof.reload(hidden, quiet=True)
            message = str(error).removeprefix(f"sink {self.label}: ")
            raise SinkError(
                self.label, f"{message}; {self.path} was {undone}", transient=error.transient
            ) from None
        return self._confirmed(content, reloaded=reloaded)

    def holds(self) -> str | None:
        """The access key the file holds, when the access key is one of its fields."""
        content = self._read(self.path)
        if content is None:
            return None
        return self._held(content)

    def after_revoke(self, access_key: str) -> None:
        """Remove ``<path>.previous``: the key it holds is gone (one another key holds stays)."""
        content = self._read(self.previous)
        if content is None:
            return
        held = self._held(content)
        if held is not None and held != access_key:
            log.warning("file %s: kept, it holds %s, not the revoked key", self.previous, held)
            return
        if not self._remove(self.previous):
            return
        log.info("file %s: removed (the key it held was revoked)", self.previous)

    # -- rendering -----------------------------------------------------------------

    def _names(self) -> str:
        if self.config.format == "template":
            return "template with " + ", ".join(placeholders(self._template or "", what="template"))
        return ", ".join(f"{name}={field}" for name, field in self.config.output_fields.items())

    def _render(self, fields: dict[str, str | Secret], context: PushContext) -> bytes:
        def value(field: str) -> str:
            if field not in fields:
                have = ", ".join(sorted(fields))
                raise SinkError(self.label, f"the credential has no field {field} (it has {have})")
            found = fields[field]
            return found.reveal() if isinstance(found, Secret) else found

        try:
            if self.config.format == "template":
                names = placeholders(self._template or "", what="template")
                return render("template", {n: value(n) for n in names}, template=self._template)
            values = {name: value(field) for name, field in self.config.output_fields.items()}
            header = f"written by rotator for policy {context.policy}; edits are overwritten"
            return render(self.config.format, values, header=header)
        except FormatError as exc:
            raise SinkError(self.label, str(exc)) from None

    def _secrets_in(self, content: bytes | None) -> list[str]:
        """The secret values a file of this sink holds (for redaction)."""
        if content is None:
            return []
        values = parse(self.config.format, content, template=self._template)
        if self.config.format == "template":
            secret = {name for name in values if KNOWN_FIELDS.get(name)}
        else:
            fields = self.config.output_fields.items()
            secret = {name for name, field in fields if KNOWN_FIELDS.get(field)} | {"auth"}
        return [value for name, value in values.items() if name in secret and value]

    def _held(self, content: bytes) -> str | None:
        values = parse(self.config.format, content, template=self._template)
        if self.config.format == "template":
            return values.get("access_key")
        for name, field in self.config.output_fields.items():
            if field == "access_key":
                return values.get(name)
        return None

    # -- the file ------------------------------------------------------------------

    def _plain_or_absent(self, path: Path) -> os.stat_result | None:
        return self._on_disk(f"cannot inspect {path}", lambda: plain_or_absent(path))

    def _read(self, path: Path) -> bytes | None:
        """The file's bytes (None when absent); never follows a symbolic link."""
        return self._on_disk(f"cannot read {path}", lambda: read_nofollow(path))

    def _owned_as_wanted(self) -> bool:
        found = self._plain_or_absent(self.path)
        return (
            found is not None
            and stat.S_IMODE(found.st_mode) == self._mode
            and self._uid in (-1, found.st_uid)
            and self._gid in (-1, found.st_gid)
        )

    def _write(self, path: Path, content: bytes) -> None:
        self._on_disk(
            f"cannot write {path}",
            lambda: write_atomically(path, content, mode=self._mode, uid=self._uid, gid=self._gid),
        )

    def _remove(self, path: Path) -> bool:
        return self._on_disk(f"cannot remove {path}", lambda: remove(path))

    def _on_disk(self, what: str, step: Callable[[], T]) -> T:
        """Run one file-system *step*; a refused path or an OS failure becomes a SinkError."""
        try:
            return step()
        except NotPlain as exc:
            raise SinkError(self.label, str(exc)) from None
        except OSError as exc:
            raise self._os_error(what, exc) from None

    def _os_error(self, what: str, exc: OSError) -> SinkError:
        # Out of space or an interrupted call may pass; a permission or a path will not.
        transient = exc.errno in (28, 4, 11, 5)  # ENOSPC, EINTR, EAGAIN, EIO
        return SinkError(self.label, f"{what}: {exc.strerror or exc}", transient=transient)

    def _confirmed(self, content: bytes, *, reloaded: bool) -> Confirmation:
        detail = {
            "path": str(self.path),
            "file_sha256": Secret(content.decode(errors="replace")).fingerprint,
        }
        if self.config.reload:
            detail["reload"] = "exited 0" if reloaded else "not needed (already served)"
        if self.config.check is not None:
            detail["check"] = "passed"
        return Confirmation(self.label, detail)


def _resolve(label: str, who: str | int | None, kind: str) -> int:
    """A user or group name or id as a number (-1: leave as rotator creates it)."""
    if who is None:
        return -1
    if isinstance(who, int) or who.isdigit():
        return int(who)
    try:
        return pwd.getpwnam(who).pw_uid if kind == "owner" else grp.getgrnam(who).gr_gid
    except KeyError:
        raise SinkError(label, f"no {'user' if kind == 'owner' else 'group'} named {who}") from None


def _hidden(fields: dict[str, str | Secret]) -> list[str]:
    """The secret values, to strip from anything a child says."""
    return [value.reveal() for value in fields.values() if isinstance(value, Secret) and value]
