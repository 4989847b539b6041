"""The ``rotator`` command line's grammar: every subcommand, its flags, help and examples.

Anything on the command line shaped like a DigitalOcean token is refused
and never echoed (argparse would print it back in its usage errors):
:class:`Parser` checks the arguments before parsing and scrubs its own
error messages. Each subcommand names its handler as ``"module:function"``
in :mod:`rotator.commands`, imported only when it runs.

One module on purpose, past the usual size: it is the whole grammar, read
top to bottom in the order ``rotator --help`` lists it; splitting it by
command would scatter the flags every command shares.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rotator import __version__
from rotator.errors import one_line

# What a token typed by mistake looks like: a DigitalOcean personal, OAuth or refresh
# token (even cut short or in capitals), or a legacy 64-hex token.
TOKEN_ARGUMENT = re.compile(r"(?i)do[opr]_v1_[0-9a-f]{8,}|(?<![0-9a-z])[0-9a-f]{64}(?![0-9a-z])")
REDACTED = "<redacted token>"
TOKEN_HINT = "never give a token on the command line: use --token-stdin or the prompt"  # noqa: S105 (advice, not a password)


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
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout and nothing else"
    )


def _verbosity_flags(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """``-q``/``-v``, before the command (top level) or after it (every subparser).

    The two places keep separate destinations: argparse copies a
    subparser's namespace over its parent's, so one shared destination would
    lose ``rotator -v status``.
    """
    suffix, default_quiet, default_verbose = (
        ("_after", argparse.SUPPRESS, argparse.SUPPRESS) if after_command else ("", False, 0)
    )
    parser.add_argument(
        "-q",
        "--quiet",
        dest=f"quiet{suffix}",
        action="store_true",
        default=default_quiet,
        help="print only errors on stderr (no warnings, notes or progress); results stay on stdout",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        dest=f"verbose{suffix}",
        action="count",
        default=default_verbose,
        help="show logs on stderr: -v info, -vv debug",
    )


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


def _examples(*lines: str) -> str:
    return "examples:\n" + "".join(f"  {line}\n" for line in lines)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rotator",
        description="Keep DigitalOcean credentials healthy: validate and audit API tokens,\n"
        "rotate Spaces keys into App Platform and Vault, alert operators.",
        epilog=_examples(
            "rotator init",
            'printf %s "$DO_TOKEN" | rotator connection add prod --token-stdin',
            "rotator status --json",
            "rotator completion bash > /etc/bash_completion.d/rotator",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rotator {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config file (default: $ROTATOR_CONFIG, else /etc/rotator/rotator.toml if present)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of any unexpected failure, and debug logs",
    )
    _verbosity_flags(parser, after_command=False)
    common = Parser(add_help=False)
    _verbosity_flags(common, after_command=True)
    # `rotator status --debug` works too; SUPPRESS keeps `rotator --debug status`'s value.
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of any unexpected failure, and debug logs",
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help="the command to run"
    )

    def command(
        group: argparse._SubParsersAction[Parser],
        name: str,
        handler: str,
        help_text: str,
        *examples: str,
        name_help: str | None = None,
    ) -> argparse.ArgumentParser:
        """One subcommand; *name_help*, when given, describes its first argument ``NAME``."""
        sub = group.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_examples(*examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )
        sub.set_defaults(handler=handler)  # "module:function" in rotator.commands, loaded on use
        if name_help is not None:
            sub.add_argument("name", metavar="NAME", help=name_help)
        return sub

    def command_group(
        name: str, help_text: str, actions_help: str, *examples: str
    ) -> argparse._SubParsersAction[Parser]:
        """``rotator NAME ACTION ...``: the group's parser, and its actions to add to."""
        group = commands.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=_examples(*examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )
        return group.add_subparsers(
            dest="action", metavar="ACTION", required=True, help=actions_help
        )

    sub = command(
        commands,
        "init",
        "setup:init",
        "create the state directory, master key file and store (safe to run twice)",
        "rotator init",
        "ROTATOR_STATE_DIR=/var/lib/rotator rotator init --json",
    )
    _json_flag(sub)
    sub = command(
        commands,
        "rekey",
        "setup:rekey",
        "re-seal every stored secret under a new master key",
        "rotator rekey",
        "rotator rekey --new-key-file /root/rotator-master.key.new --json",
    )
    sub.add_argument(
        "--new-key-file",
        type=Path,
        metavar="PATH",
        help="write (or read) the new key here instead of replacing the key file",
    )
    _json_flag(sub)

    group = command_group(
        "connection",
        "manage DigitalOcean API token connections",
        "what to do with connections",
        "rotator connection list",
        "rotator connection validate --all",
    )
    sub = command(
        group,
        "add",
        "connections:add",
        "register a token under a name",
        'printf %s "$DO_TOKEN" | rotator connection add prod --description "CI" --token-stdin',
        "rotator connection add staging          # prompts for the token without echo",
        name_help="the connection's name "
        "(lowercase letters, digits, '-', '_'; policies refer to it)",
    )
    sub.add_argument(
        "--description", default="", metavar="TEXT", help="a note for operators (who, what for)"
    )
    _token_flags(sub, optional=False)
    _json_flag(sub)
    sub = command(
        group,
        "list",
        "connections:list_",
        "list connections",
        "rotator connection list",
        "rotator connection list --json | jq -r '.[].name'",
    )
    _json_flag(sub)
    sub = command(
        group,
        "show",
        "connections:show",
        "show one connection",
        "rotator connection show prod",
        "rotator connection show prod --json",
        name_help="the connection to show",
    )
    _json_flag(sub)
    sub = command(
        group,
        "update",
        "connections:update",
        "change a connection's description or token",
        'rotator connection update prod --description "CI, rotated quarterly"',
        'printf %s "$NEW_TOKEN" | rotator connection update prod --token-stdin',
        name_help="the connection to change",
    )
    sub.add_argument(
        "--description", metavar="TEXT", help="the new description (unchanged when absent)"
    )
    _token_flags(sub, optional=True)
    _json_flag(sub)
    sub = command(
        group,
        "remove",
        "connections:remove",
        "forget a connection",
        "rotator connection remove old-ci",
        "rotator connection remove old-ci --yes --json",
        name_help="the connection to forget",
    )
    sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _json_flag(sub)
    sub = command(
        group,
        "validate",
        "connections:validate",
        "check tokens against DigitalOcean (exit 1 if any is not valid)",
        "rotator connection validate --all",
        "rotator connection validate prod staging --json",
    )
    sub.add_argument(
        "names", nargs="*", metavar="NAME", help="connections to check (default: every one)"
    )
    sub.add_argument("--all", action="store_true", help="every connection (the default)")
    _json_flag(sub)
    sub = command(
        group,
        "audit",
        "audit:audit_connection",
        "compare what a token can do with what it needs (exit 1 on a problem)",
        "rotator connection audit prod",
        "rotator connection audit prod --refresh --json",
        name_help="the connection whose token is audited",
    )
    sub.add_argument(
        "--refresh", action="store_true", help="ask DigitalOcean again instead of a cached report"
    )
    _json_flag(sub)

    group = command_group(
        "config",
        "work with the config file",
        "what to do with the config",
        "rotator config check",
        "rotator --config ./rotator.toml config check --offline",
    )
    sub = command(
        group,
        "check",
        "config_check:check",
        "validate the environment and config file, reporting every problem",
        "rotator config check",
        "rotator --config ./rotator.toml config check --offline --json",
    )
    sub.add_argument(
        "--offline",
        action="store_true",
        help="check the file only; do not ask DigitalOcean or the sinks",
    )
    _json_flag(sub)

    group = command_group(
        "alerts",
        "work with alert channels",
        "what to do with alert channels",
        "rotator alerts test",
    )
    sub = command(
        group,
        "test",
        "alerts:test",
        "send a test alert to every channel (exit 1 if any fails)",
        "rotator alerts test",
        "rotator alerts test --json",
    )
    _json_flag(sub)
    sub = command(
        commands,
        "rotate",
        "rotate:rotate",
        "rotate a policy's credential now, finish an interrupted rotation, or give it up",
        "rotator rotate media --dry-run",
        "rotator rotate media",
        'rotator rotate media --abandon --reason "app deleted" --yes',
    )
    sub.add_argument(
        "policy", metavar="POLICY", help="the policy's name, as in [[policies]] name = ..."
    )
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
        commands,
        "status",
        "status:status",
        "connections, policies and the store at a glance",
        "rotator status",
        "rotator status --json | jq '.policies[] | {name, next_due_at}'",
    )
    _json_flag(sub)
    sub = command(
        commands,
        "history",
        "status:history",
        "the audit log",
        "rotator history --subject media --limit 20",
        "rotator history --json",
    )
    sub.add_argument("--subject", metavar="NAME", help="only entries about this name")
    sub.add_argument(
        "--limit", type=int, default=100, metavar="N", help="at most N entries (default: 100)"
    )
    sub.add_argument(
        "--before", type=int, metavar="ID", help="only entries older than this id (next page)"
    )
    _json_flag(sub)
    sub = command(
        commands,
        "run",
        "run:run",
        "the daemon: validate, audit, rotate and alert on schedule until stopped",
        "rotator run --health-listen 127.0.0.1:9464",
        "rotator run --once --json       # every due job once (cron), then exit",
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
    sub.add_argument(
        "--json",
        action="store_true",
        help="with --once: print one JSON document (each job's items and outcomes) on stdout",
    )
    sub = command(
        commands,
        "demo",
        "demo:demo",
        "a self-contained walk-through against the built-in sandbox",
        "rotator demo",
        "rotator demo --keep",
    )
    sub.add_argument("--keep", action="store_true", help="keep the temporary directory")
    sub = command(
        commands,
        "completion",
        "completion:completion",
        "print a shell completion script",
        "rotator completion bash > /etc/bash_completion.d/rotator",
        'rotator completion zsh > "${fpath[1]}/_rotator"',
        "rotator completion fish > ~/.config/fish/completions/rotator.fish",
    )
    sub.add_argument(
        "shell", metavar="SHELL", choices=("bash", "zsh", "fish"), help="bash, zsh or fish"
    )
    return parser
