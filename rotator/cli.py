"""The ``rotator`` command line: argparse subcommands and the error edge.

Every known failure (a RotatorError) becomes one ``error: ...`` line on
stderr and exit code 1 or 2. So does what the world can throw at any
command: a file system error (a full disk, a read-only store, a directory
where a file belongs), an SQLite error, a number or date out of range, text
that is not UTF-8, input nested too deeply. Only a bug shows a traceback;
``--debug`` (or ``ROTATOR_LOG_LEVEL=DEBUG``) shows it for those too.

Anything on the command line shaped like a DigitalOcean token is refused
and never echoed: argparse would print it back in its usage errors.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import re
import sqlite3
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from rotator import __version__, logs
from rotator.errors import ConfigError, RotatorError, one_line

if TYPE_CHECKING:
    from rotator.context import Context

Command = Callable[[argparse.Namespace, "Context"], int]

# What a token typed by mistake looks like: a DigitalOcean personal, OAuth or refresh
# token (even cut short or in capitals), or a legacy 64-hex token.
TOKEN_ARGUMENT = re.compile(r"(?i)do[opr]_v1_[0-9a-f]{8,}|(?<![0-9a-z])[0-9a-f]{64}(?![0-9a-z])")
REDACTED = "<redacted token>"
TOKEN_HINT = "never give a token on the command line: use --token-stdin or the prompt"  # noqa: S105 (advice, not a password)

# Failures of the world, not of rotator: one line each, never a traceback.
WORLD_ERRORS = (
    OSError,
    sqlite3.Error,
    OverflowError,
    UnicodeError,
    RecursionError,
)


def redact_arguments(text: str) -> tuple[str, bool]:
    """*text* with every token-shaped part replaced, and whether there was one."""
    redacted, count = TOKEN_ARGUMENT.subn(REDACTED, text)
    return redacted, count > 0


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that never echoes a token (subparsers are made of this class too)."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        arguments = list(sys.argv[1:] if args is None else args)
        if any(TOKEN_ARGUMENT.search(argument) for argument in arguments):
            self.error(
                f"an argument looks like a DigitalOcean API token ({REDACTED}); {TOKEN_HINT}"
            )
        return super().parse_known_args(arguments, namespace)

    def error(self, message: str) -> NoReturn:
        message, found = redact_arguments(one_line(message))
        if found and TOKEN_HINT not in message:
            message += f"; {TOKEN_HINT}"
        super().error(message)


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
    parser = Parser(
        prog="rotator",
        description="Keep DigitalOcean credentials healthy: validate and audit API tokens, "
        "rotate Spaces keys into App Platform and Vault, alert operators.",
    )
    parser.add_argument("--version", action="version", version=f"rotator {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of any unexpected failure, and debug logs",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config file (default: $ROTATOR_CONFIG, else /etc/rotator/rotator.toml if present)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        group: argparse._SubParsersAction[Parser],
        name: str,
        handler: str,
        help_text: str,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)  # "module:function" in rotator.commands, loaded on use
        # `rotator status --debug` works too; SUPPRESS keeps `rotator --debug status`'s value.
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
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
        "rotate a policy's Spaces key now, or finish an interrupted rotation",
    )
    sub.add_argument("policy", metavar="POLICY")
    sub.add_argument(
        "--dry-run", action="store_true", help="print every step and change nothing anywhere"
    )
    _json_flag(sub)
    sub = command(
        commands, "status", "status:status", "connections, policies and the store at a glance"
    )
    _json_flag(sub)
    sub = command(commands, "history", "status:history", "the audit log")
    sub.add_argument("--subject", metavar="NAME", help="only entries about this name")
    sub.add_argument("--limit", type=int, default=100, metavar="N")
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

    Each command module brings its own heavy imports (httpx, hvac, pydantic
    models), so ``--version``, ``--help`` and a plain listing stay quick.
    """
    module_name, function = reference.split(":")
    module = importlib.import_module(f"rotator.commands.{module_name}")
    handler: Command = getattr(module, function)
    return handler


def _debugging(args: argparse.Namespace, environ: Mapping[str, str] | None) -> bool:
    environ = os.environ if environ is None else environ
    return bool(args.debug) or environ.get("ROTATOR_LOG_LEVEL", "").strip().upper() == "DEBUG"


def describe_failure(exc: BaseException, store: Path | None = None) -> tuple[str, int]:
    """One line and an exit code for a failure of the world (see :data:`WORLD_ERRORS`)."""
    if isinstance(exc, sqlite3.Error):
        where = f"store {store}" if store is not None else "store"
        return f"{where}: {exc}", 1
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        if exc.errno == errno.ENOSPC:
            reason += " (free some space and run the command again)"
        names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
        return (f"{' -> '.join(names)}: {reason}" if names else reason), 1
    if isinstance(exc, OverflowError):
        return f"a date or number is out of range ({exc})", 1
    if isinstance(exc, UnicodeError):
        return f"the input is not valid UTF-8 text ({exc.reason})" if isinstance(
            exc, UnicodeDecodeError
        ) else f"text cannot be encoded ({exc})", 2
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply", 2
    return f"{type(exc).__name__}: {exc}", 1


def _print_traceback(exc: BaseException, stream: TextIO) -> None:
    text = "".join(traceback.format_exception(exc))
    stream.write(logs.redact(redact_arguments(text)[0]))


def main(argv: Sequence[str] | None = None, ctx: Context | None = None) -> int:
    """Run one command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # --version and --help exit here, before heavy imports
    from rotator.context import Context

    ctx = ctx or Context()
    ctx.config_path = args.config or ctx.config_path
    debug = _debugging(args, ctx.environ)
    handler = load_handler(args.handler)
    try:
        try:
            settings = ctx.settings
            logs.configure(
                log_format=settings.log_format,
                level="DEBUG" if args.debug else settings.log_level,
                stream=ctx.stderr,
            )
        except ConfigError:
            if args.handler != "config_check:check":
                raise
        return handler(args, ctx)
    except RotatorError as exc:
        ctx.stderr.write(f"error: {one_line(logs.redact(str(exc)))}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        ctx.stderr.write("interrupted\n")
        return 130
    except WORLD_ERRORS as exc:
        if debug:
            _print_traceback(exc, ctx.stderr)
        store = ctx._settings.store_path if ctx._settings is not None else None
        message, code = describe_failure(exc, store)
        ctx.stderr.write(f"error: {one_line(logs.redact(message))}\n")
        return code
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
