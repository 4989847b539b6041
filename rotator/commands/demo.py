"""``rotator demo``: a walk-through against the built-in sandbox, no account needed.

Everything happens in a temporary directory against a local sandbox server
on loopback; the commands shown are the real ones, run in-process.
"""

from __future__ import annotations

import argparse
import io
import shlex
import shutil
import tempfile
from pathlib import Path

from rotator.context import Context

HEALTHY_SCOPES = [
    "account:read",
    "spaces_key:read",
    "spaces_key:create_credentials",
    "spaces_key:delete",
    "app:read",
    "app:update",
]


class Walkthrough:
    """Runs rotator commands in-process against the sandbox and narrates them."""

    def __init__(self, ctx: Context, state_dir: Path, sandbox_url: str) -> None:
        self.ctx = ctx
        self.environ = {
            "ROTATOR_STATE_DIR": str(state_dir),
            "ROTATOR_DO_API_URL": sandbox_url,
            "ROTATOR_DO_OAUTH_URL": sandbox_url,
            "HOME": str(state_dir.parent),
        }
        self.step_number = 0

    def step(self, title: str) -> None:
        self.step_number += 1
        self.ctx.stdout.write(f"\n== {self.step_number}. {title}\n")

    def say(self, text: str) -> None:
        self.ctx.stdout.write(f"   {text}\n")

    def run(self, *argv: str, stdin: str = "", shown_stdin: str = "") -> int:
        """Run one rotator command as an operator would type it."""
        from rotator.cli import main

        shown = f"{shown_stdin} | " if shown_stdin else ""
        self.ctx.stdout.write(f"$ {shown}rotator {shlex.join(argv)}\n")
        out, err = io.StringIO(), io.StringIO()
        ctx = Context(
            environ=self.environ, stdin=io.StringIO(stdin), stdout=out, stderr=err, now=self.ctx.now
        )
        code = main(list(argv), ctx)
        for line in (out.getvalue() + err.getvalue()).splitlines():
            if " INFO " not in line:  # the narration replaces routine log lines
                self.ctx.stdout.write(f"  {line}\n")
        self.ctx.stdout.write(f"  (exit {code})\n")
        return code


def demo(args: argparse.Namespace, ctx: Context) -> int:
    """Start a sandbox, register a healthy and a revoked token, and validate them."""
    from rotator.sandbox import Sandbox

    workdir = Path(tempfile.mkdtemp(prefix="rotator-demo-"))
    failures = 0
    try:
        with Sandbox(deployment_step_seconds=0.2) as sandbox:
            walk = Walkthrough(ctx, workdir / "state", sandbox.url)
            walk.step("A local DigitalOcean sandbox stands in for the real API")
            walk.say(f"sandbox listening on {sandbox.url} (loopback only, no account needed)")
            healthy = sandbox.add_token(HEALTHY_SCOPES, name="rotator-prod")
            revoked = sandbox.add_token(["account:read"], name="old-laptop")
            sandbox.revoke_token(revoked)
            walk.say(
                "created two tokens in it: one healthy, one revoked; "
                "rotator only ever shows their SHA-256 fingerprints"
            )

            walk.step("Create the state directory, master key and encrypted store")
            failures += walk.run("init") != 0

            walk.step("Register the healthy token (read from stdin, never from argv)")
            failures += (
                walk.run(
                    "connection",
                    "add",
                    "prod",
                    "--description",
                    "production automation",
                    "--token-stdin",
                    stdin=healthy,
                    shown_stdin="echo $PROD_TOKEN",
                )
                != 0
            )

            walk.step("A revoked token is refused at registration")
            failures += (
                walk.run(
                    "connection",
                    "add",
                    "laptop",
                    "--token-stdin",
                    stdin=revoked,
                    shown_stdin="echo $OLD_TOKEN",
                )
                != 1
            )

            walk.step("Stored without a check, it is caught by the next validation")
            failures += (
                walk.run(
                    "connection",
                    "add",
                    "laptop",
                    "--token-stdin",
                    "--no-validate",
                    stdin=revoked,
                    shown_stdin="echo $OLD_TOKEN",
                )
                != 0
            )
            failures += walk.run("connection", "validate", "--all") != 1

            walk.step("What the store now says")
            failures += walk.run("connection", "list") != 0
            failures += walk.run("history") != 0
    finally:
        if args.keep:
            ctx.stdout.write(f"\nkept {workdir}\n")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        ctx.stderr.write(f"error: {failures} demo steps did not go as expected\n")
        return 1
    ctx.stdout.write("\ndemo finished: every step behaved as expected\n")
    return 0
