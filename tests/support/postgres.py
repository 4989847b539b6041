"""A throw-away PostgreSQL cluster for the tests, and a fresh database for each test.

The session fixture ``postgres_cluster`` runs Debian's server binaries
(``/usr/lib/postgresql/<version>/bin``) in a temporary directory: loopback
only, on a free port, unix sockets in that directory, fsync off. Run as root,
the cluster belongs to the unprivileged ``postgres`` user (PostgreSQL refuses
to run as root). ``postgres_url`` creates a database for one test and drops
it afterwards. Without server binaries, both skip with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from rotator.sandbox.ports import free_port

START_SECONDS = 60  # the most we wait for the server to start or stop
ROLE = "rotator"
PASSWORD = "pg-canary-" + secrets.token_hex(8)  # tests look for it in every output


def server_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory, if any."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: (
            int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresCluster:
    """One PostgreSQL server in a directory of its own, stopped by :meth:`stop`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
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
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
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

    def start(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(PASSWORD + "\n")
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

    def stop(self) -> None:
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
        self, database: str = "postgres", *, password: str = PASSWORD, port: int | None = None
    ) -> str:
        """A URL for the test role (the cluster's superuser) over TCP with its password."""
        return (
            f"postgresql://{ROLE}:{password}@127.0.0.1:{port or self.port}/{database}"
            "?sslmode=disable"
        )

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql)

    def create_database(self) -> str:
        name = f"test_{os.getpid()}_{next(self._numbers)}"
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A running throw-away PostgreSQL for the whole session (skips without its binaries)."""
    bindir = server_bindir()
    if bindir is None:
        pytest.skip(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb); "
            "install the postgresql package (.ci/run does)"
        )
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The URL of a new, empty database for this test alone."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)
