"""A throw-away PostgreSQL cluster: the sandbox's managed databases, and the tests' store.

:class:`PostgresCluster` runs Debian's server binaries
(``/usr/lib/postgresql/<version>/bin``) in a temporary directory: loopback
only, on a free port, unix sockets in that directory, fsync off. Run as root,
the cluster belongs to the unprivileged ``postgres`` user (PostgreSQL refuses
to run as root). Its superuser's password is written to initdb through a
file (mode 0600), never argv. :func:`server_bindir` is None where no server
is installed: the sandbox then answers for databases as unavailable, and the
tests' fixtures (``tests/support/postgres.py``) skip.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from itertools import count
from pathlib import Path

import psycopg
from psycopg import sql

from rotator.sandbox.ports import free_port

__all__ = ["ROLE", "START_SECONDS", "PostgresCluster", "server_bindir"]

START_SECONDS = 60  # the most we wait for the server to start or stop
ROLE = "rotator"


def server_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory, if any."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _runuser() -> str:
    """``runuser`` (util-linux), found also where PATH lacks the sbin directories."""
    for candidate in (shutil.which("runuser"), "/usr/sbin/runuser", "/sbin/runuser"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise RuntimeError("runuser is not installed: a root process cannot start PostgreSQL")


class PostgresCluster:
    """One PostgreSQL server in a directory of its own, stopped by :meth:`stop`."""

    def __init__(self, bindir: Path, *, password: str | None = None) -> None:
        self.bindir = bindir
        self.password = password or "pg-" + secrets.token_hex(16)
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="rotator-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._numbers = count(1)
        if self.as_root:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.root.chmod(0o700)

    def _run(self, *command: str, timeout: float = START_SECONDS) -> None:
        prefix = [_runuser(), "-u", "postgres", "--"] if self.as_root else []
        result = subprocess.run(
            [*prefix, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({result.returncode}): "
                f"{result.stdout}{result.stderr}\n{log}"
            )

    def start(self) -> PostgresCluster:
        """initdb and start the server; RuntimeError (with its log) when either fails."""
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if self.as_root:
            account = pwd.getpwnam("postgres")
            os.chown(password_file, account.pw_uid, account.pw_gid)
        password_file.chmod(0o600)
        self._run(
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            ROLE,
            "--pwfile",
            str(password_file),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        password_file.unlink()
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.root}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "start",
            "--pgdata",
            str(self.data),
            "--log",
            str(self.log),
            "--wait",
            f"--timeout={START_SECONDS}",
            "-o",
            options,
            timeout=START_SECONDS + 10,
        )
        return self

    def stop(self) -> None:
        """Stop the server at once and remove its directory."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run(
                str(self.bindir / "pg_ctl"),
                "stop",
                "--pgdata",
                str(self.data),
                "-m",
                "immediate",
                "--wait",
                f"--timeout={START_SECONDS}",
                timeout=START_SECONDS + 10,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def url(
        self, database: str = "postgres", *, password: str | None = None, port: int | None = None
    ) -> str:
        """A URL for the superuser over TCP with its password (another one when given)."""
        return (
            f"postgresql://{ROLE}:{password or self.password}@127.0.0.1:{port or self.port}/"
            f"{database}"
            "?sslmode=disable"
        )

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection (autocommit), password passed as a keyword, never a URL."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=ROLE,
            password=self.password,
            dbname=database,
            sslmode="disable",
            autocommit=True,
            connect_timeout=10,
        )

    def admin(self, statement: str | sql.Composed) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE, CREATE ROLE)."""
        with self.connect() as connection:
            connection.execute(statement)

    def create_database(self, prefix: str = "test") -> str:
        name = f"{prefix}_{os.getpid()}_{next(self._numbers)}"
        self.admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        self.admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
