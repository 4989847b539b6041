"""Run rotator as a user does: a subprocess with its own environment, and what it said."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Rotator:
    """The rotator CLI pointed at a sandbox and a private state directory."""

    def __init__(self, home: Path, api_url: str) -> None:
        self.home = home
        self.state_dir = home / "state"
        self.config = home / "rotator.toml"
        self.config.write_text('[digitalocean]\nretries = 1\ntimeout = "2s"\n')
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "ROTATOR_STATE_DIR": str(self.state_dir),
            "ROTATOR_CONFIG": str(self.config),
            "ROTATOR_DO_API_URL": api_url,
            "ROTATOR_DO_OAUTH_URL": api_url,
            "ROTATOR_DO_REGISTRY_URL": api_url,
        }
        self.transcript: list[Result] = []

    def __call__(
        self,
        *args: str,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Result:
        completed = subprocess.run(
            [sys.executable, "-m", "rotator", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=timeout,
            check=False,
        )
        result = Result(completed.returncode, completed.stdout, completed.stderr)
        self.transcript.append(result)
        return result

    def add(self, name: str, token: str, *extra: str) -> Result:
        return self("connection", "add", name, "--token-stdin", *extra, stdin=token)

    @property
    def store_path(self) -> Path:
        return self.state_dir / "rotator.db"

    def dump(self) -> str:
        """The store's whole content, to prove a failed command changed nothing."""
        if not self.store_path.exists():
            return ""
        db = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True)
        try:
            return "\n".join(db.iterdump())
        finally:
            db.close()


ROTATION_SCOPES = [
    "account:read",
    "spaces_key:read",
    "spaces_key:create_credentials",
    "spaces_key:delete",
    "app:read",
    "app:update",
]


def media_policy(
    app_id: str,
    *,
    grace: str = "1h",
    every: str = "30d",
    spaces_key: str = "demo-media",
    component: str = "web",
    more_sinks: str = "",
) -> str:
    """The `media` policy: by default the sandbox's seeded demo key into its demo app's web."""
    return f"""
[[policies]]
name = "media"
connection = "prod"
spaces_key = "{spaces_key}"
every = "{every}"
grace = "{grace}"

[[policies.sinks]]
type = "app_platform"
app_id = "{app_id}"
component = "{component}"
access_key_env = "SPACES_KEY"
secret_key_env = "SPACES_SECRET"
{more_sinks}"""


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    """A known failure: exit code, exactly one `error:` line, no traceback."""
    assert result.code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def rotate_killed_after(
    run: Rotator, sandbox: Any, method: str, path: str, *, let_through: int = 0
) -> None:
    """Run `rotator rotate media` and SIGKILL it right after a request is answered.

    The request is the first *method* to the *path* regex after *let_through*
    matching ones were answered as usual.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "rotator", "rotate", "media"],
        env=run.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if let_through:  # a fault that does nothing, used up by the requests let through
        sandbox.add_fault(method=method, path=path, times=let_through)
    sandbox.add_fault(
        method=method, path=path, kill_pid=process.pid, kill_signal=signal.SIGKILL, times=1
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        sandbox.clear_faults()
    assert process.returncode == -signal.SIGKILL, (process.returncode, stdout, stderr)
