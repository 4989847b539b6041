"""``rotator connection ...``: register, inspect and validate API tokens."""

from __future__ import annotations

import argparse
import getpass
import re
from collections.abc import Callable
from typing import Any

from rotator import files
from rotator.digitalocean.tokens import ApiToken, parse_token
from rotator.errors import InvalidName, RotatorError, UsageError
from rotator.output import print_fields, print_json, print_table, warn, when
from rotator.services import connections
from rotator.services.connections import TokenChange, get_connection, list_connections
from rotator.services.context import Context
from rotator.services.validate import Outcome, validate_named
from rotator.settings import NAME_PATTERN
from rotator.store import Connection


def check_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidName(
            f"invalid connection name {name!r}: use 1 to 63 lowercase letters, digits, "
            "'-' and '_', starting with a letter or digit"
        )
    return name


def read_token(args: argparse.Namespace, ctx: Context) -> ApiToken:
    """The token from stdin (``--token-stdin``) or a no-echo prompt; never from argv."""
    if args.token_stdin:
        text = ctx.stdin.read(files.SECRET_LIMIT + 1)  # a token is short: never read without end
        if len(text) > files.SECRET_LIMIT:
            raise UsageError("stdin holds far more than a token; pipe only the token")
        if not text.strip():
            raise UsageError("no token on stdin")
    elif ctx.stdin.isatty():
        text = getpass.getpass("DigitalOcean API token (input hidden): ", stream=ctx.stderr)
    else:
        raise UsageError("stdin is not a terminal: pipe the token in and pass --token-stdin")
    token = parse_token(text)
    if token.warning and args.no_validate:  # validation repeats it otherwise
        warn(ctx.stderr, token.warning, quiet=args.quiet)
    return token


def _connection_rows(connections: list[Connection], ctx: Context) -> list[list[Any]]:
    now = ctx.now()
    return [
        [
            c.name,
            c.status,
            c.version,
            c.fingerprint,
            c.account_email or "-",
            when(c.last_validated_at, now),
            c.description,
        ]
        for c in connections
    ]


_HEADERS = ["name", "status", "version", "fingerprint", "account", "last validated", "description"]


def _show(connection: Connection, ctx: Context, as_json: bool) -> None:
    if as_json:
        print_json(connection.to_json(), ctx.stdout)
        return
    now = ctx.now()
    print_fields(
        [
            ("name", connection.name),
            ("description", connection.description or "-"),
            (
                "status",
                connection.status
                + (f" ({connection.status_reason})" if connection.status_reason else ""),
            ),
            ("token kind", connection.token_kind),
            ("token hash", connection.token_hash),
            ("version", connection.version),
            ("token set", when(connection.token_set_at, now)),
            (
                "token expires",
                when(connection.token_expires_at) if connection.token_expires_at else "-",
            ),
            ("account", connection.account_email or "-"),
            ("account status", connection.account_status or "-"),
            ("created", when(connection.created_at, now)),
            ("updated", when(connection.updated_at, now)),
            ("last validated", when(connection.last_validated_at, now)),
        ],
        ctx.stdout,
    )


def _warn(change: TokenChange, ctx: Context, *, quiet: bool) -> None:
    for warning in change.validation.warnings if change.validation else ():
        warn(ctx.stderr, warning, quiet=quiet)


def _outcome(
    change: TokenChange,
    args: argparse.Namespace,
    ctx: Context,
    *,
    refused: str,
    done: Callable[[Connection], str],
) -> int:
    """Exit 1 naming why a token was refused (nothing stored), else show the connection."""
    if change.connection is None:
        reason = change.validation.reason if change.validation else "invalid"
        ctx.stderr.write(f"error: {refused.format(reason=reason)}\n")
        return 1
    if args.json:
        print_json(change.connection.to_json(), ctx.stdout)
    else:
        ctx.stdout.write(done(change.connection) + "\n")
    return 0


def add(args: argparse.Namespace, ctx: Context) -> int:
    """Register a token under a name, after validating it unless --no-validate."""
    name = check_name(args.name)
    change = connections.add_connection(
        ctx,
        name,
        args.description or "",
        lambda: read_token(args, ctx),
        validate=not args.no_validate,
    )
    _warn(change, ctx, quiet=args.quiet)
    if change.validation is not None and change.validation.status == "unknown":
        warn(
            ctx.stderr,
            f"could not validate the token now ({change.validation.reason}); stored as unknown",
            quiet=args.quiet,
        )
    return _outcome(
        change,
        args,
        ctx,
        refused="the token is invalid ({reason}); nothing was stored",
        done=lambda c: f"added connection {name!r} (token {c.fingerprint}…, {c.status})",
    )


def list_(args: argparse.Namespace, ctx: Context) -> int:
    connections = list_connections(ctx)
    if args.json:
        print_json([c.to_json() for c in connections], ctx.stdout)
    else:
        print_table(_HEADERS, _connection_rows(connections, ctx), ctx.stdout)
    return 0


def show(args: argparse.Namespace, ctx: Context) -> int:
    connection = get_connection(ctx, args.name)
    _show(connection, ctx, args.json)
    return 0


def update(args: argparse.Namespace, ctx: Context) -> int:
    """Change the description and/or the token (a new token bumps the version)."""
    if args.description is None and not args.token_stdin and not args.token_prompt:
        raise UsageError("nothing to update: give --description, --token-stdin or --token")
    wants_token = args.token_stdin or args.token_prompt
    change = connections.update_connection(
        ctx,
        args.name,
        description=args.description,
        read_token=(lambda: read_token(args, ctx)) if wants_token else None,
        validate=not args.no_validate,
    )
    return _outcome(
        change,
        args,
        ctx,
        refused="the new token is invalid ({reason}); nothing was changed",
        done=lambda c: (
            f"updated connection {args.name!r} (version {c.version}, token {c.fingerprint}…)"
        ),
    )


def remove(args: argparse.Namespace, ctx: Context) -> int:
    def confirm() -> bool:
        if args.yes:
            return True
        if not ctx.stdin.isatty():
            raise UsageError("refusing to remove without --yes when not on a terminal")
        ctx.stderr.write(f"remove connection {args.name!r}? [y/N] ")
        ctx.stderr.flush()
        if ctx.stdin.readline().strip().lower() in ("y", "yes"):
            return True
        ctx.stderr.write("not removed\n")
        return False

    if not connections.remove_connection(ctx, args.name, confirm):
        return 1
    if args.json:
        print_json({"removed": args.name}, ctx.stdout)
        return 0
    ctx.stdout.write(f"removed connection {args.name!r}\n")
    return 0


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    validation = outcome.validation
    return {
        "name": outcome.connection.name,
        "status": outcome.status,
        "reason": validation.reason if validation else outcome.error,
        "warnings": outcome.warnings,
        "account_email": validation.account.email if validation and validation.account else None,
        "account_status": validation.account.status if validation and validation.account else None,
        "checked_at": validation.checked_at if validation else None,
        "fingerprint": outcome.connection.fingerprint,
    }


def validate(args: argparse.Namespace, ctx: Context) -> int:
    """Check tokens against GET /v2/account; exit 1 if any is not valid."""
    if args.all and args.names:
        raise UsageError("give connection names or --all, not both")
    outcomes = validate_named(ctx, args.names)
    if args.json:
        print_json([_outcome_json(o) for o in outcomes], ctx.stdout)
    else:
        rows = [
            [
                o.connection.name,
                o.status,
                _outcome_json(o)["reason"],
                o.connection.account_email or "-",
            ]
            for o in outcomes
        ]
        print_table(["name", "status", "reason", "account"], rows, ctx.stdout)
        for outcome in outcomes:
            for warning in outcome.warnings:
                ctx.stdout.write(f"warning: {outcome.connection.name}: {warning}\n")
    if len(outcomes) == 1 and outcomes[0].error is not None:
        raise RotatorError(outcomes[0].error)
    return 0 if all(o.status == "valid" for o in outcomes) else 1
