"""Locks and the state directory: opened safely, refused with one clear line.

Every lock file (``rotator.lock``, ``policy-<name>.lock``, ``daemon.lock``)
is opened by :func:`open_lock_file`: never through a symbolic link, never a
directory, FIFO or hard-linked file, never someone else's file, so a planted
link cannot make rotator (perhaps running as root) write to its target.
:func:`check_state_dir` refuses a state directory that another user owns or
may write to, or that a symbolic link leads into a world-writable place;
systemd's ``StateDirectory=`` (0700, the service user's) and the container
volume (0700, uid 10001) pass.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import sys
from pathlib import Path

from rotator.errors import StoreError, StoreLocked, StoreUnsafe

HOLDER_MAX = 200  # bytes of "pid N: command" read back from a lock file


def open_lock_file(path: Path) -> int:
    """A descriptor for the regular lock file at ``path``, created 0600 if absent."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        handle = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreUnsafe(
                f"lock file {path} is a symbolic link; refusing to follow it (remove the link)"
            ) from None
        if exc.errno == errno.EISDIR:
            raise StoreUnsafe(f"lock file {path} is a directory; remove it") from None
        raise StoreError(f"cannot open lock file {path}: {exc.strerror or exc}") from None
    info = os.fstat(handle)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "is not a regular file"
    elif info.st_nlink > 1:
        problem = "has other hard links"
    elif info.st_uid != os.geteuid():
        problem = f"belongs to another user (uid {info.st_uid})"
    if problem is not None:
        os.close(handle)
        raise StoreUnsafe(f"lock file {path} {problem}; refusing to use it (remove it)")
    return handle


def check_state_dir(path: Path) -> None:
    """Refuse a state directory that is not ours alone (StoreUnsafe, one line each)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return  # nothing there yet: the caller says what to do
    except OSError as exc:
        raise StoreError(f"cannot use state directory {path}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise StoreUnsafe(f"state directory {path} is not a directory")
    euid = os.geteuid()
    if info.st_uid != euid:
        raise StoreUnsafe(
            f"state directory {path} belongs to uid {info.st_uid}, not to this user "
            f"(uid {euid}); run rotator as the directory's owner"
        )
    if info.st_mode & 0o022:
        raise StoreUnsafe(
            f"state directory {path} can be written by other users "
            f"(mode {stat.S_IMODE(info.st_mode):o}); run `chmod 700 {path}`"
        )
    real = path.resolve()
    if real != Path(os.path.normpath(path.absolute())):
        place = real.parent
        if place.stat().st_mode & 0o002:
            raise StoreUnsafe(
                f"state directory {path} is a symbolic link into {place}, which anyone can "
                "write to; point it at a private directory"
            )


class WriterLock:
    """A non-blocking flock; an exclusive holder writes its name into the file.

    Writers share ``rotator.lock`` (SQLite serialises their transactions, so
    the CLI can add a connection while the daemon works); ``init`` and
    ``rekey`` take it exclusively because they must see every sealed value.
    """

    def __init__(self, path: Path, *, exclusive: bool = True, what: str = "") -> None:
        self.path = path
        self.exclusive = exclusive
        self.what = what or f"store {path.parent}"
        self.holder: str | None = None  # who held it when acquire() failed, if known
        self._handle: int | None = None

    def acquire(self) -> None:
        handle = open_lock_file(self.path)
        try:
            mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            self.holder = _live_holder(handle)
            os.close(handle)
            named = f" ({self.holder})" if self.holder else ""
            raise StoreLocked(
                f"{self.what} is in use by another process{named}; wait for it to finish or stop it"
            ) from None
        if self.exclusive:
            command = " ".join(
                Path(arg).name if i == 0 else arg for i, arg in enumerate(sys.argv[:3])
            )
            try:
                os.ftruncate(handle, 0)
                os.pwrite(handle, f"pid {os.getpid()}: {command}".encode(), 0)
            except OSError as exc:
                os.close(handle)
                raise StoreError(f"cannot write lock file {self.path}: {exc.strerror}") from None
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            if self.exclusive:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._handle, 0)  # the name leaves with its holder
            os.close(self._handle)  # closing drops the flock
            self._handle = None


def _live_holder(handle: int) -> str | None:
    """The name an exclusive holder wrote, if that process still runs.

    Shared holders write nothing, and a name left by a process that died
    without cleaning up is not named: it would send the operator after a
    long-gone process.
    """
    text = os.pread(handle, HOLDER_MAX, 0).decode(errors="replace").strip()
    words = text.split(":", 1)[0].split()
    if len(words) != 2 or words[0] != "pid" or not words[1].isdigit():
        return None
    try:
        os.kill(int(words[1]), 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    except (OverflowError, OSError):
        return None
    return " ".join(text.split())
