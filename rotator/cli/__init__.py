"""The ``rotator`` command line: the error edge (the subcommands: :mod:`rotator.cli.parser`).

Every known failure (a RotatorError) becomes one ``error: ...`` line on
stderr and exit code 1 or 2. So does what the world can throw at any
command: a file system error (a full disk, a read-only store, a directory
where a file belongs), an SQLite error, a number or date out of range, text
that is not UTF-8, input nested too deeply. Only a bug shows a traceback;
``--debug`` (or ``ROTATOR_LOG_LEVEL=DEBUG``) shows it for those too.

Anything on the command line shaped like a DigitalOcean token is refused
and never echoed: argparse would print it back in its usage errors.

Like the tools operators already use, commands are quiet: a result on
stdout (one JSON document with ``--json``), warnings, errors and progress
lines on stderr, and no log lines unless asked for with ``-v`` (info) or
``-vv`` (debug). ``-q`` leaves only errors. ``rotator run``, the daemon,
logs at info as before. ``ROTATOR_LOG_LEVEL`` overrides all of this.
``-q``/``-v`` go before or after the command (``rotator -v status`` or
``rotator status -v``).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rotator import logs
from rotator.cli.parser import (
    REDACTED,
    TOKEN_ARGUMENT,
    TOKEN_HINT,
    Parser,
    build_parser,
    redact_arguments,
)
from rotator.errors import ConfigError, RotatorError

if TYPE_CHECKING:
    from rotator.services.context import Context
    from rotator.settings import Settings

__all__ = [
    "REDACTED",
    "TOKEN_ARGUMENT",
    "TOKEN_HINT",
    "Parser",
    "build_parser",
    "main",
    "redact_arguments",
]

Command = Callable[[argparse.Namespace, "Context"], int]

# Failures of the world, not of rotator: one line each, never a traceback.
WORLD_ERRORS = (
    OSError,
    sqlite3.Error,
    OverflowError,
    UnicodeError,
    RecursionError,
)


NOT_REPORTING = {
    "completion:completion": "prints a shell script, not a report",
    "demo:demo": "a narrated walk-through; the commands it runs show their own output",
}
"""Commands that report nothing and so take no ``--json`` (``run`` takes it with ``--once``)."""

NEEDS_NO_SETTINGS = frozenset({"completion:completion"})
"""Commands that work with a broken or missing config (like ``--help``)."""

LOG_LEVELS = ("ERROR", "WARNING", "INFO", "DEBUG")  # -q, default, -v, -vv


def load_handler(reference: str) -> Command:
    """The command function for ``"module:function"``, imported only now.

    Each command module brings its own heavy imports (httpx, pydantic
    models), so ``--version``, ``--help`` and a plain listing stay quick.
    """
    module_name, function = reference.split(":")
    module = importlib.import_module(f"rotator.commands.{module_name}")
    handler: Command = getattr(module, function)
    return handler


def verbosity(args: argparse.Namespace) -> int:
    """-1 for ``-q``, 0 by default, 1 for ``-v``, 2 for ``-vv`` (before or after the command)."""
    if getattr(args, "quiet", False) or getattr(args, "quiet_after", False):
        return -1
    return min(2, getattr(args, "verbose", 0) + getattr(args, "verbose_after", 0))


def log_level(
    args: argparse.Namespace, settings: Settings, environ: Mapping[str, str] | None
) -> str:
    """The level of the logs on stderr for this command.

    ``ROTATOR_LOG_LEVEL`` (or ``--debug``) wins; else ``-q``/``-v``/``-vv``;
    else WARNING for a command (no INFO chatter) and INFO for the daemon.
    """
    environ = os.environ if environ is None else environ
    if getattr(args, "debug", False):
        return "DEBUG"
    if environ.get("ROTATOR_LOG_LEVEL", "").strip():
        return settings.log_level
    chosen = verbosity(args)
    if chosen == 0 and args.handler == "run:run":
        chosen = 1
    return LOG_LEVELS[chosen + 1]


def _configure_logging(args: argparse.Namespace, ctx: Context) -> None:
    try:
        settings = ctx.settings
        logs.configure(
            log_format=settings.log_format,
            level=log_level(args, settings, ctx.environ),
            stream=ctx.stderr,
        )
    except ConfigError:
        if args.handler != "config_check:check":
            raise


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
    if verbosity(args) < 0 and (args.verbose or getattr(args, "verbose_after", 0)):
        parser.error("-q and -v do not go together")
    args.quiet = verbosity(args) < 0  # commands read one flag, wherever it was given
    from rotator.services.context import Context

    ctx = ctx or Context()
    ctx.config_path = args.config or ctx.config_path
    debug = _debugging(args, ctx.environ)
    handler = load_handler(args.handler)
    try:
        if args.handler not in NEEDS_NO_SETTINGS:
            _configure_logging(args, ctx)
        return handler(args, ctx)
    except RotatorError as exc:
        logs.problem(ctx.stderr, "error", str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ctx.stderr.write("interrupted\n")
        return 130
    except WORLD_ERRORS as exc:
        if debug:
            _print_traceback(exc, ctx.stderr)
        store = ctx._settings.store_path if ctx._settings is not None else None
        message, code = describe_failure(exc, store)
        logs.problem(ctx.stderr, "error", message)
        return code
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
