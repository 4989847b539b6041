"""The one way rotator reads a file an operator points it at.

Config files, ``*_file`` secrets, webhook secrets and master key files all
come through :func:`read_text` (or :func:`read_secret`), which refuses what
would hurt a privileged daemon:

- anything but a regular file (a FIFO would block forever, ``/dev/zero``
  never ends, a directory is a typo): the file is opened non-blocking and
  checked with ``fstat`` on the open descriptor, so nothing can be swapped in
  between the check and the read;
- more than a size cap (:data:`SECRET_LIMIT` for secrets and keys,
  :data:`CONFIG_LIMIT` for the config), counted while reading, so a file
  that grows after the check is still cut off;
- bytes that are not UTF-8;
- optionally, a symbolic link as the last path component (``O_NOFOLLOW``).
  Symbolic links are followed by default: Kubernetes mounts its secrets and
  config maps through them, and systemd credentials are never links.

Every refusal is one :class:`~rotator.errors.UnreadableFile` line naming
what the file is for and its path, never a byte of its content.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from rotator.errors import UnreadableFile
from rotator.secret import Secret

SECRET_LIMIT = 64 * 1024
"""The most bytes a secret, token or master key file may hold."""

CONFIG_LIMIT = 1024 * 1024
"""The most bytes the TOML config file may hold."""

_CHUNK = 64 * 1024

_Refusal = Callable[..., UnreadableFile]


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit < 1024 * 1024 else f"{limit // (1024 * 1024)} MiB"


def _open(path: Path, refuse: _Refusal, *, follow_symlinks: bool) -> int:
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        return os.open(path, flags)
    except FileNotFoundError as exc:
        raise refuse("no such file", missing=True) from exc
    except ValueError as exc:  # an embedded NUL byte, possible from a TOML string
        raise refuse("the path holds a NUL character") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise refuse("it is a symbolic link, which is refused here") from exc
        raise refuse(str(exc.strerror or exc)) from exc


def _refusal(path: Path, what: str, source: str) -> _Refusal:
    def refuse(reason: str, *, missing: bool = False) -> UnreadableFile:
        return UnreadableFile(what, path, reason, source=source, missing=missing)

    return refuse


def read_bytes(
    path: Path,
    *,
    what: str,
    source: str = "config",
    limit: int = SECRET_LIMIT,
    follow_symlinks: bool = True,
) -> bytes:
    """At most *limit* bytes of the regular file *path*, or one clear refusal.

    The refusal is an :class:`UnreadableFile` from *source* (``config``),
    its one problem starting with *what* the file is for
    (``alerts[0].secret_file``), or with the path alone when *what* is empty.
    """
    refuse = _refusal(path, what, source)
    descriptor = _open(path, refuse, follow_symlinks=follow_symlinks)
    try:
        try:
            info = os.fstat(descriptor)
        except OSError as exc:
            raise refuse(str(exc.strerror or exc)) from exc
        if not stat.S_ISREG(info.st_mode):
            raise refuse(f"it is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise refuse(f"it is larger than {_size(limit)}")
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                chunk = os.read(descriptor, min(_CHUNK, limit + 1 - total))
            except OSError as exc:
                raise refuse(str(exc.strerror or exc)) from exc
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # it grew after the size check
                raise refuse(f"it is larger than {_size(limit)}")
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def read_text(
    path: Path,
    *,
    what: str,
    source: str = "config",
    limit: int = SECRET_LIMIT,
    follow_symlinks: bool = True,
) -> str:
    """The UTF-8 text of the regular file *path* (see :func:`read_bytes`)."""
    raw = read_bytes(path, what=what, source=source, limit=limit, follow_symlinks=follow_symlinks)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refusal(path, what, source)(
            f"it is not UTF-8 text (bad byte at offset {exc.start})"
        ) from exc


def read_secret(
    path: Path, *, what: str, source: str = "config", follow_symlinks: bool = True
) -> Secret:
    """A one-value secret file: its text without surrounding whitespace, never empty."""
    value = read_text(path, what=what, source=source, follow_symlinks=follow_symlinks).strip()
    if not value:
        raise _refusal(path, what, source)("it is empty")
    return Secret(value)
