"""``rotator connection ...``: register, inspect and validate API tokens."""

from __future__ import annotations

import argparse
import getpass
import re
from typing import Any

from rotator import files
from rotator.context import Context
from rotator.digitalocean.tokens import ApiToken, parse_token
from rotator.errors import ConnectionExists, InvalidName, RotatorError, UsageError
from rotator.output import print_fields, print_json, print_table, when
from rotator.settings import NAME_PATTERN
from rotator.store import Connection
from rotator.validation import Outcome, check_token, to_record, validate_connections


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
        ctx.stderr.write(f"warning: {token.warning}\n")
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


def add(args: argparse.Namespace, ctx: Context) -> int:
    """Register a token under a name, after validating it unless --no-validate."""
    name = check_name(args.name)
    with ctx.open_store(writer=True) as store:
        if store.has_connection(name):
            raise ConnectionExists(name)
        token = read_token(args, ctx)
        record = None
        if not args.no_validate:
            validation = check_token(token.secret, ctx.clients())
            for warning in validation.warnings:
                ctx.stderr.write(f"warning: {warning}\n")
            if validation.status == "invalid":
                ctx.stderr.write(
                    f"error: the token is invalid ({validation.reason}); nothing was stored\n"
                )
                return 1
            if validation.status == "unknown":
                ctx.stderr.write(
                    f"warning: could not validate the token now "
                    f"({validation.reason}); stored as unknown\n"
                )
            record = to_record(validation)
        connection = store.add_connection(
            name, args.description or "", token.secret, token.kind, record
        )
    if args.json:
        print_json(connection.to_json(), ctx.stdout)
    else:
        ctx.stdout.write(
            f"added connection {name!r} (token {connection.fingerprint}…, {connection.status})\n"
        )
    return 0


def list_(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.open_store(writer=False) as store:
        connections = store.list_connections()
    if args.json:
        print_json([c.to_json() for c in connections], ctx.stdout)
    else:
        print_table(_HEADERS, _connection_rows(connections, ctx), ctx.stdout)
    return 0


def show(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.open_store(writer=False) as store:
        connection = store.get_connection(args.name)
    _show(connection, ctx, args.json)
    return 0


def update(args: argparse.Namespace, ctx: Context) -> int:
    """Change the description and/or the token (a new token bumps the version)."""
    if args.description is None and not args.token_stdin and not args.token_prompt:
        raise UsageError("nothing to update: give --description, --token-stdin or --token")
    with ctx.open_store(writer=True) as store:
        store.get_connection(args.name)
        token = read_token(args, ctx) if (args.token_stdin or args.token_prompt) else None
        record = None
        if token is not None and not args.no_validate:
            validation = check_token(token.secret, ctx.clients())
            if validation.status == "invalid":
                ctx.stderr.write(
                    f"error: the new token is invalid ({validation.reason}); nothing was changed\n"
                )
                return 1
            record = to_record(validation)
        connection = store.update_connection(
            args.name,
            description=args.description,
            token=token.secret if token else None,
            kind=token.kind if token else None,
            validation=record,
        )
    if args.json:
        print_json(connection.to_json(), ctx.stdout)
    else:
        ctx.stdout.write(
            f"updated connection {args.name!r} (version {connection.version}, "
            f"token {connection.fingerprint}…)\n"
        )
    return 0


def remove(args: argparse.Namespace, ctx: Context) -> int:
    users = [p.name for p in ctx.settings.config.policies if p.connection == args.name]
    if users:
        raise UsageError(
            f"connection {args.name!r} is used by policy {users[0]!r}; "
            "remove it from the config first"
        )
    with ctx.open_store(writer=True) as store:
        store.get_connection(args.name)
        if not args.yes:
            if not ctx.stdin.isatty():
                raise UsageError("refusing to remove without --yes when not on a terminal")
            ctx.stderr.write(f"remove connection {args.name!r}? [y/N] ")
            ctx.stderr.flush()
            if ctx.stdin.readline().strip().lower() not in ("y", "yes"):
                ctx.stderr.write("not removed\n")
                return 1
        store.remove_connection(args.name)
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
        "checked_at": validation.checked_at.isoformat() if validation else None,
        "fingerprint": outcome.connection.fingerprint,
    }


def validate(args: argparse.Namespace, ctx: Context) -> int:
    """Check tokens against GET /v2/account; exit 1 if any is not valid."""
    if args.all and args.names:
        raise UsageError("give connection names or --all, not both")
    with ctx.open_store(writer=True) as store:
        if args.names:
            connections = [store.get_connection(name) for name in dict.fromkeys(args.names)]
        else:
            connections = store.list_connections()
            if not connections:
                raise UsageError(
                    "no connections registered; add one with `rotator connection add NAME`"
                )
        alerting = ctx.alerting(store)
        outcomes = validate_connections(
            store, connections, ctx.clients(), concurrency=ctx.settings.config.daemon.concurrency
        )
        if alerting is not None:
            for outcome in outcomes:
                if outcome.validation is not None:
                    alerting.connection_checked(outcome.connection)
            alerting.flush()
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
