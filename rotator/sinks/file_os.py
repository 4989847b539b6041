"""The ``file`` sink's dealings with the host: files written with care, and the proof that the
consumer took the new value (``reload`` and ``check``, children run within bounds).

The file functions raise ``OSError`` (or :class:`NotPlain`), which the sink
turns into its one-line :class:`~rotator.errors.SinkError`; :class:`Proof`
raises that SinkError itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

import httpx

from rotator import httpguard
from rotator.configtypes import seconds
from rotator.durations import format_duration
from rotator.errors import SinkError
from rotator.logs import one_line
from rotator.sinks.file_format import KNOWN_FIELDS, fill

log = logging.getLogger(__name__)

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
    reader.join(2.0)
    if not reader.is_alive():
        child.stdout.close()
    # else a grandchild that left the group still holds the pipe: leave the reader its
    # descriptor (closing it under a blocked read could hand it a reused number).
    return Finished(code, kept.decode(errors="replace"))


def _drain(stream: IO[bytes], kept: bytearray) -> None:
    fd = stream.fileno()
    with contextlib.suppress(OSError, ValueError):
        while chunk := os.read(fd, 65536):
            if len(kept) < OUTPUT_CAP:
                kept += chunk[: OUTPUT_CAP - len(kept)]


class Proof:
    """A file sink's ``reload`` and ``check``: the proof its consumer took the new value.

    *values* everywhere are the credential's non-secret fields (what a check
    may name); *hidden* the secret values to strip from what a child says.
    """

    def __init__(
        self,
        label: str,
        path: Path,
        *,
        reload: list[str] | None,
        reload_timeout: timedelta,
        check: str | list[str] | None,
        check_timeout: timedelta,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
        interval: float,
    ) -> None:
        self.label, self.path = label, path
        self.reload_argv, self.reload_timeout = reload, reload_timeout
        self.check, self.check_timeout = check, check_timeout
        self._sleep, self._monotonic, self._interval = sleep, monotonic, interval

    @staticmethod
    def values(plain: Mapping[str, str]) -> dict[str, str]:
        """Every non-secret field a check may name, those not given left empty."""
        return {**{name: "" for name, secret in KNOWN_FIELDS.items() if not secret}, **plain}

    def prove_commands(self) -> None:
        """The commands are found on the children's PATH (config check)."""
        for what, argv in (("reload", self.reload_argv), ("check", self._check_argv)):
            if argv and shutil.which(argv[0], path=child_env(self.path)["PATH"]) is None:
                raise SinkError(
                    self.label, f"{what} command {argv[0]} is not an executable found on PATH"
                )

    def probe(self, values: Mapping[str, str]) -> None:
        """A check URL answers at all (config check): any HTTP status will do."""
        if isinstance(self.check, str):
            status = self._get(self._check_url(values), timeout=10.0)
            log.debug("file %s: check URL answered %s", self.path, status)

    def shown(self, values: Mapping[str, str]) -> str:
        """The check as written, its placeholders filled in (for messages and dry runs)."""
        if isinstance(self.check, str):
            return fill(self.check, self.values(values))
        return " ".join(fill(part, self.values(values)) for part in self._check_argv or [])

    def reload(self, hidden: list[str], *, quiet: bool = False) -> bool:
        """Run ``reload``; True when it ran and exited 0. *quiet*: a failure is only logged."""
        if not self.reload_argv:
            return False
        try:
            self._run("reload", self.reload_argv, seconds(self.reload_timeout), hidden)
        except SinkError as error:
            if not quiet:
                raise
            log.warning("file %s: reloading with the old file failed: %s", self.path, error)
            return False
        return True

    def check_once(self, values: Mapping[str, str], hidden: list[str], timeout: float) -> bool:
        """One attempt at ``check``; True when it passed."""
        if isinstance(self.check, str):
            try:
                status = self._get(self._check_url(values), timeout=timeout)
            except SinkError:
                return False
            return 200 <= status < 300
        argv = [fill(part, self.values(values)) for part in self._check_argv or []]
        try:
            self._run("check", argv, timeout, hidden)
        except SinkError as error:
            if not error.transient:
                raise
            return False
        return True

    def wait(self, values: Mapping[str, str], hidden: list[str]) -> None:
        """Repeat ``check`` until it passes; a transient SinkError once ``check_timeout`` ends."""
        if self.check is None:
            return
        ends = self._monotonic() + seconds(self.check_timeout)
        while True:
            left = ends - self._monotonic()
            if self.check_once(values, hidden, timeout=max(min(left, 10.0), 0.05)):
                return
            if self._monotonic() + self._interval >= ends:
                raise SinkError(
                    self.label,
                    f"check {self.shown(values)} did not pass within "
                    f"{format_duration(self.check_timeout)}: the consumer does not "
                    "show it uses the new value",
                    transient=True,
                )
            self._sleep(self._interval)

    @property
    def _check_argv(self) -> list[str] | None:
        return self.check if isinstance(self.check, list) else None

    def _check_url(self, values: Mapping[str, str]) -> str:
        assert isinstance(self.check, str)
        plain = self.values(values)
        return fill(self.check, {k: urllib.parse.quote(v, safe="") for k, v in plain.items()})

    def _get(self, url: str, *, timeout: float) -> int:
        """GET *url* (bounded in time and size); its status. Transport failures: SinkError."""
        shown = url.split("?", 1)[0]
        try:
            with httpguard.guarded_client(timeout=timeout) as client:
                request = client.build_request("GET", url)
                deadline = httpguard.Deadline(timeout)
                answer = httpguard.fetch(client, request, deadline=deadline, max_body=65536)
        except httpx.HTTPError as exc:
            why = one_line(str(exc).split("\n", 1)[0])[:200] or type(exc).__name__
            raise SinkError(
                self.label, f"check URL {shown} is not reachable: {why}", transient=True
            ) from None
        return answer.status_code

    def _run(self, what: str, argv: list[str], timeout: float, hidden: list[str]) -> None:
        """Run *argv* with no secret in reach; exit 0, or a SinkError naming what it said."""
        shown = " ".join(argv)
        try:
            finished = run_bounded(argv, timeout=timeout, env=child_env(self.path))
        except OSError as exc:
            raise SinkError(self.label, f"cannot run {what} {shown}: {exc.strerror}") from None
        output = finished.output.strip()
        for secret in sorted(set(hidden), key=len, reverse=True):
            output = output.replace(secret, "[secret]")
        if output:
            log.debug("file %s: %s said: %s", self.path, what, one_line(output)[:1000])
        if finished.code is None:
            raise SinkError(
                self.label, f"{what} {shown} did not finish within {timeout:g}s", transient=True
            )
        if finished.code != 0:
            said = f": {one_line(output.splitlines()[-1])[:200]}" if output else ""
            raise SinkError(
                self.label, f"{what} {shown} exited {finished.code}{said}", transient=True
            )
