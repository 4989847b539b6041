"""The ``rotator`` command line: argparse subcommands and the error edge.

Every known failure (a RotatorError) becomes one ``error: ...`` line on
stderr and exit code 1 or 2; only a bug shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rotator import __version__, logs
from rotator.errors import ConfigError, RotatorError

if TYPE_CHECKING:
    from rotator.services.context import Context

Command = Callable[[argparse.Namespace, "Context"], int]


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def _token_flags(parser: argparse.ArgumentParser, *, optional: bool) -> None:
    parser.add_argument(
        "--token-stdin",
        action="store_true",
        help="read the token from stdin (never give it on the command line)",
    )
    if optional:
        parser.add_argument(
            "--token",
            dest="token_prompt",
            action="store_true",
            help="prompt for a new token without echo",
        )
    parser.add_argument(
        "--no-validate",
        action="store_true",
        help="store the token without checking it against DigitalOcean",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rotator",
        description="Keep DigitalOcean credentials healthy: validate and audit API tokens, "
        "rotate Spaces keys into App Platform and Vault, alert operators.",
    )
    parser.add_argument("--version", action="version", version=f"rotator {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config file (default: $ROTATOR_CONFIG, else /etc/rotator/rotator.toml if present)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        handler: str,
        help_text: str,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)  # "module:function" in rotator.commands, loaded on use
        return sub

    command(
        commands,
        "init",
        "setup:init",
        "create the state directory, master key file and store (safe to run twice)",
    )
    sub = command(
        commands, "rekey", "setup:rekey", "re-seal every stored secret under a new master key"
    )
    sub.add_argument(
        "--new-key-file",
        type=Path,
        metavar="PATH",
        help="write (or read) the new key here instead of replacing the key file",
    )

    conn = commands.add_parser(
        "connection",
        help="manage DigitalOcean API token connections",
        description="Manage DigitalOcean API token connections.",
    )
    group = conn.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(group, "add", "connections:add", "register a token under a name")
    sub.add_argument("name")
    sub.add_argument("--description", default="", metavar="TEXT")
    _token_flags(sub, optional=False)
    _json_flag(sub)
    sub = command(group, "list", "connections:list_", "list connections")
    _json_flag(sub)
    sub = command(group, "show", "connections:show", "show one connection")
    sub.add_argument("name")
    _json_flag(sub)
    sub = command(
        group, "update", "connections:update", "change a connection's description or token"
    )
    sub.add_argument("name")
    sub.add_argument("--description", metavar="TEXT")
    _token_flags(sub, optional=True)
    _json_flag(sub)
    sub = command(group, "remove", "connections:remove", "forget a connection")
    sub.add_argument("name")
    sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sub = command(
        group,
        "validate",
        "connections:validate",
        "check tokens against DigitalOcean (exit 1 if any is not valid)",
    )
    sub.add_argument("names", nargs="*", metavar="NAME")
    sub.add_argument("--all", action="store_true", help="every connection (the default)")
    _json_flag(sub)
    sub = command(
        group,
        "audit",
        "audit:audit_connection",
        "compare what a token can do with what it needs (exit 1 on a problem)",
    )
    sub.add_argument("name")
    sub.add_argument(
        "--refresh", action="store_true", help="ask DigitalOcean again instead of a cached report"
    )
    _json_flag(sub)

    cfg = commands.add_parser("config", help="work with the config file")
    group = cfg.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(
        group,
        "check",
        "config_check:check",
        "validate the environment and config file, reporting every problem",
    )
    sub.add_argument(
        "--offline",
        action="store_true",
        help="check the file only; do not ask DigitalOcean or the sinks",
    )

    alert_parser = commands.add_parser(
        "alerts", help="work with alert channels", description="Work with alert channels."
    )
    group = alert_parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(
        group, "test", "alerts:test", "send a test alert to every channel (exit 1 if any fails)"
    )
    _json_flag(sub)

    sub = command(
        commands,
        "rotate",
        "rotate:rotate",
        "rotate a policy's Spaces key now, finish an interrupted rotation, or give it up",
    )
    sub.add_argument("policy", metavar="POLICY")
    sub.add_argument(
        "--dry-run", action="store_true", help="print every step and change nothing anywhere"
    )
    sub.add_argument(
        "--abandon",
        action="store_true",
        help="give up the rotation in flight: delete its new key unless a sink holds it, "
        "keep the old key",
    )
    sub.add_argument(
        "--reason", metavar="TEXT", help="why the rotation is abandoned (kept in history)"
    )
    sub.add_argument("--yes", action="store_true", help="abandon without asking")
    _json_flag(sub)
    sub = command(
        commands, "status", "status:status", "connections, policies and the store at a glance"
    )
    _json_flag(sub)
    sub = command(commands, "history", "status:history", "the audit log")
    sub.add_argument("--subject", metavar="NAME", help="only entries about this name")
    sub.add_argument("--limit", type=int, default=100, metavar="N")
    sub.add_argument(
        "--before", type=int, metavar="ID", help="only entries older than this id (next page)"
    )
    _json_flag(sub)
    sub = command(
        commands,
        "run",
        "run:run",
        "the daemon: validate, audit, rotate and alert on schedule until stopped",
    )
    sub.add_argument("--once", action="store_true", help="run every due job once, then exit")
    sub.add_argument(
        "--health-listen",
        metavar="HOST:PORT",
        help="serve /healthz, /readyz and /metrics here (overrides daemon.health_listen)",
    )
    sub.add_argument(
        "--health-public",
        action="store_true",
        help="allow a non-loopback health address (the endpoints have no authentication)",
    )
    sub = command(
        commands, "demo", "demo:demo", "a self-contained walk-through against the built-in sandbox"
    )
    sub.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser


def load_handler(reference: str) -> Command:
    """The command function for ``"module:function"``, imported only now.

    Each command module brings its own heavy imports (httpx, pydantic
    models), so ``--version``, ``--help`` and a plain listing stay quick.
    """
    module_name, function = reference.split(":")
    module = importlib.import_module(f"rotator.commands.{module_name}")
    handler: Command = getattr(module, function)
    return handler


def main(argv: Sequence[str] | None = None, ctx: Context | None = None) -> int:
    """Run one command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # --version and --help exit here, before heavy imports
    from rotator.services.context import Context

    ctx = ctx or Context()
    ctx.config_path = args.config or ctx.config_path
    handler = load_handler(args.handler)
    try:
        try:
            settings = ctx.settings
            logs.configure(
                log_format=settings.log_format, level=settings.log_level, stream=ctx.stderr
            )
        except ConfigError:
            if args.handler != "config_check:check":
                raise
        return handler(args, ctx)
    except RotatorError as exc:
        logs.problem(ctx.stderr, "error", str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ctx.stderr.write("interrupted\n")
        return 130
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
