"""Run a command under the seccomp and W^X limits a systemd unit file sets.

    python tests/deploy/confine.py systemd/rotator.service -- rotator demo

There is no systemd (as PID 1) on CI machines, so the unit cannot simply be
started. This applies, to this process and then to the command it execs, the
unit's kernel-enforced limits that a Python program could trip over:

- ``SystemCallFilter=`` (allow list, then ``~`` removals), groups expanded by
  ``systemd-analyze syscall-filter``, blocked calls failing with
  ``SystemCallErrorNumber=``;
- ``SystemCallArchitectures=native`` (libseccomp kills any other ABI);
- ``MemoryDenyWriteExecute=yes`` as systemd 252 builds it in seccomp (no
  W+X ``mmap``, no ``mprotect``/``pkey_mprotect`` adding ``PROT_EXEC``, no
  ``SHM_EXEC``) and as newer systemd asks the kernel (``PR_SET_MDWE``);
- ``RestrictAddressFamilies=`` (other ``socket()`` families get EAFNOSUPPORT).

Mount namespaces, users and capabilities are not emulated: they need
privileges and a service manager. The user is not changed either (the test
interpreter may live under /root): as root, SQLite tries to ``fchown`` each
new WAL file, gets EPERM from ``~@privileged`` and ignores it, which is what
happens under the unit too, except that there, not being root, it never
tries. libseccomp is loaded with ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ALLOW = 0x7FFF0000
CMP_EQ, CMP_GE, CMP_MASKED_EQ = 4, 5, 7
PROT_WRITE, PROT_EXEC = 0x2, 0x4
SHM_EXEC = 0o100000
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
AF_MAX = 46  # one past the highest family Linux knows
# Allowed whatever the filter says (systemd.exec(5), SystemCallFilter=).
ALWAYS_ALLOWED = {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"}


def errno_action(number: int) -> int:
    return 0x00050000 | (number & 0xFFFF)


class ArgCompare(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def unit_settings(unit: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, values of repeated keys in order."""
    settings: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def expand(names: list[str], cache: dict[str, set[str]] | None = None) -> set[str]:
    """System call names, with ``@group`` names expanded recursively."""
    cache = {} if cache is None else cache
    calls: set[str] = set()
    for name in names:
        if not name.startswith("@"):
            calls.add(name)
            continue
        if name not in cache:
            listing = subprocess.run(
                ["systemd-analyze", "syscall-filter", name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            members = [
                line.strip()
                for line in listing.splitlines()[1:]
                if line.strip() and not line.strip().startswith("#")
            ]
            cache[name] = expand(members, cache)
        calls |= cache[name]
    return calls


def allowed_calls(filters: list[str]) -> set[str]:
    """Apply ``SystemCallFilter=`` lines in order, as systemd does for an allow list."""
    if not filters or filters[0].startswith("~"):
        raise SystemExit("confine.py handles allow-list filters only")
    allowed: set[str] = set()
    for entry in filters:
        if entry.startswith("~"):
            allowed -= expand(entry[1:].split())
        else:
            allowed |= expand(entry.split())
    return allowed | ALWAYS_ALLOWED


def load_libseccomp() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    lib = ctypes.CDLL(name, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(ArgCompare),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


class Filter:
    """One seccomp filter under construction."""

    def __init__(self, lib: ctypes.CDLL, default_action: int) -> None:
        self.lib = lib
        self.context = lib.seccomp_init(default_action)
        if not self.context:
            raise OSError("seccomp_init failed")

    def rule(self, action: int, call: str, *compares: tuple[int, int, int, int]) -> None:
        number = self.lib.seccomp_syscall_resolve_name(call.encode())
        if number < 0:
            return  # not a system call on this architecture
        array = (ArgCompare * max(len(compares), 1))(*[ArgCompare(*c) for c in compares])
        result = self.lib.seccomp_rule_add_array(self.context, action, number, len(compares), array)
        if result < 0:
            raise OSError(-result, f"seccomp_rule_add({call})")

    def load(self) -> None:
        result = self.lib.seccomp_load(self.context)
        self.lib.seccomp_release(self.context)
        if result < 0:
            raise OSError(-result, "seccomp_load")


def confine(unit: Path) -> None:
    settings = unit_settings(unit)
    lib = load_libseccomp()
    error_name = (settings.get("SystemCallErrorNumber") or ["EPERM"])[-1]
    denied = errno_action(getattr(errno, error_name))

    allow_list = Filter(lib, denied)
    for call in sorted(allowed_calls(settings.get("SystemCallFilter", []))):
        allow_list.rule(ALLOW, call)

    limits = Filter(lib, ALLOW)
    if settings.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes":
        wx = PROT_WRITE | PROT_EXEC
        limits.rule(errno_action(errno.EPERM), "mmap", (2, CMP_MASKED_EQ, wx, wx))
        limits.rule(errno_action(errno.EPERM), "mmap2", (2, CMP_MASKED_EQ, wx, wx))
        for call in ("mprotect", "pkey_mprotect"):
            limits.rule(errno_action(errno.EPERM), call, (2, CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        limits.rule(errno_action(errno.EPERM), "shmat", (2, CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC))
    families = " ".join(settings.get("RestrictAddressFamilies", [])).split()
    if families:
        keep = {getattr(socket, name) for name in families}
        refused = errno_action(errno.EAFNOSUPPORT)
        for family in range(AF_MAX):
            if family not in keep:
                limits.rule(refused, "socket", (0, CMP_EQ, family, 0))
        limits.rule(refused, "socket", (0, CMP_GE, AF_MAX, 0))

    if settings.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes":
        libc = ctypes.CDLL(None, use_errno=True)
        # Kernels before 6.3 lack PR_SET_MDWE; the seccomp rules still apply.
        libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0)
    limits.load()
    allow_list.load()


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit(__doc__)
    unit, command = Path(argv[0]), argv[2:]
    program = shutil.which(command[0]) or command[0]
    confine(unit)
    os.execv(program, command)  # noqa: S606 (replacing this process is the point)


if __name__ == "__main__":
    main(sys.argv[1:])
