"""The ``file`` sink's dealings with the operating system: files written with care, children run
within bounds.

Every function raises ``OSError`` (or returns what happened); the sink turns
that into its one-line :class:`~rotator.errors.SinkError`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAX_FILE = 1024 * 1024  # the most of an existing file read back
OUTPUT_CAP = 4096  # the most of a child's output kept
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NotPlain(Exception):
    """The path is a symbolic link, a directory or another non-regular file."""


def plain_or_absent(path: Path) -> os.stat_result | None:
    """The path's own status (never followed), None when absent; NotPlain unless a regular file."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(found.st_mode):
        raise NotPlain(f"{path} is a symbolic link; refusing to write through it")
    if not stat.S_ISREG(found.st_mode):
        raise NotPlain(f"{path} is not a regular file")
    return found


def read_nofollow(path: Path) -> bytes | None:
    """The file's bytes (at most :data:`MAX_FILE`), None when absent; never through a link."""
    if plain_or_absent(path) is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as file:
        return file.read(MAX_FILE)


def write_atomically(path: Path, content: bytes, *, mode: int, uid: int, gid: int) -> None:
    """Replace *path*: a temp file beside it (``O_EXCL|O_NOFOLLOW``, created with *mode*),
    owner, mode and bytes settled and fsynced before the rename, the directory fsynced after."""
    plain_or_absent(path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    temp = f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, mode, dir_fd=directory)
        try:
            if (uid, gid) != (-1, -1):
                os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)  # the umask may have narrowed it
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, path.name, src_dir_fd=directory, dst_dir_fd=directory)
        os.fsync(directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=directory)
        raise
    finally:
        os.close(directory)


def remove(path: Path) -> bool:
    """Unlink *path* and fsync its directory; False when it was not there."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def child_env(path: Path) -> dict[str, str]:
    """A child's whole environment: never rotator's own (a master key may be in it)."""
    return {
        "PATH": os.environ.get("PATH") or DEFAULT_PATH,
        "LANG": "C.UTF-8",
        "ROTATOR_FILE": str(path),
    }


@dataclass(frozen=True)
class Finished:
    """How a child ended: its exit code (None: killed when late) and its output's head."""

    code: int | None
    output: str


def run_bounded(argv: list[str], *, timeout: float, env: dict[str, str]) -> Finished:
    """Run *argv* (no shell) in a process group of its own; kill the group when late.

    Output (stdout and stderr together) is drained whole so the child never
    blocks on a full pipe, but only its first :data:`OUTPUT_CAP` bytes are kept.
    """
    child = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd="/",
        close_fds=True,
        start_new_session=True,
    )
    assert child.stdout is not None
    kept = bytearray()
    reader = threading.Thread(target=_drain, args=(child.stdout, kept), daemon=True)
    reader.start()
    code: int | None
    try:
        code = child.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        code = None
    reader.join(2.0)  # a grandchild that left the group may still hold the pipe
    child.stdout.close()
    return Finished(code, kept.decode(errors="replace"))


def _drain(stream: IO[bytes], kept: bytearray) -> None:
    fd = stream.fileno()
    with contextlib.suppress(OSError, ValueError):
        while chunk := os.read(fd, 65536):
            if len(kept) < OUTPUT_CAP:
                kept += chunk[: OUTPUT_CAP - len(kept)]
