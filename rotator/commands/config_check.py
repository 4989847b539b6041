"""``rotator config check``: validate the environment and the config file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rotator import files, output
from rotator.alerts import build_channels
from rotator.audit import audit_token
from rotator.digitalocean.spaces import find_key
from rotator.errors import (
    APIError,
    ConfigError,
    DigitalOceanError,
    NotFound,
    RotatorError,
    UnreadableFile,
    UsageError,
)
from rotator.rotation.machine import credential_kind
from rotator.services.audit import required_for
from rotator.services.context import Context
from rotator.settings import FileConfig, PolicyConfig, Settings
from rotator.sinks import SinkDeps, build_sink
from rotator.store import Connection, Store


def _named_files(config: FileConfig) -> list[tuple[str, Path]]:
    """Every file a sink or alert table names (secrets, CA certificates), with its location."""
    found: list[tuple[str, Path]] = []
    for i, policy in enumerate(config.policies):
        for j, sink in enumerate(policy.sinks):
            found += sink.files(f"policies[{i}].sinks[{j}]")
    for i, alert in enumerate(config.alerts):
        found += alert.files(f"alerts[{i}]")
    return found


def _check_policy(
    index: int,
    policy: PolicyConfig,
    store: Store,
    connection: Connection,
    ctx: Context,
    notes: list[str],
) -> list[str]:
    """What DigitalOcean and the sinks say about one policy; reads only.

    A definite answer (no such key, a missing scope, an unknown component, a
    Vault path owned by someone else) is a problem; an unreachable service is
    a note, since the config itself may be right.
    """
    where = f"policies[{index}]"
    problems: list[str] = []

    def note(what: str, exc: Exception) -> None:
        notes.append(f"{where}: {what} not checked ({exc})")

    token = store.connections.open_token(connection)
    with ctx.clients()(token) as client:
        current = store.rotations.policy_keys(policy.name)
        kind = credential_kind(policy, client)
        try:
            if kind.kind != "spaces_key":
                if current is not None:
                    kind.template(current.current_access_key)
                else:
                    kind.current()
            else:
                reference = current.current_access_key if current else policy.spaces_key
                find_key(client, reference or "")
        except NotFound as exc:
            problems.append(f"{where}.{kind.required[-1]}: {exc}")
        except UsageError as exc:
            problems.append(f"{where}.{kind.required[-1]}: {exc}")
        except DigitalOceanError as exc:
            if isinstance(exc, APIError) and exc.status == 403:
                problems.append(f"{where}.spaces_key: the connection's token lacks spaces_key:read")
            else:
                note("the Spaces key", exc)
        required = required_for(ctx.settings, policy.connection)
        try:
            report = audit_token(client, policy.connection, required=required, audited_at=ctx.now())
            if report.missing:
                problems.append(
                    f"{where}.connection: the token of {policy.connection!r} lacks "
                    f"{', '.join(report.missing)}"
                )
        except DigitalOceanError as exc:
            note("the connection's scopes", exc)
        for number, config in enumerate(policy.sinks):
            deps = SinkDeps(digitalocean=client, policy=policy.name)
            try:
                sink = build_sink(config, deps)
            except RotatorError as exc:
                problems.append(f"{where}.sinks[{number}]: {exc}")
                continue
            try:
                sink.check()
            except RotatorError as exc:
                if exc.transient:
                    note(f"sink {sink.label}", exc)
                else:
                    problems.append(f"{where}.sinks[{number}]: {exc}")
            finally:
                sink.close()
    return problems


def check(args: argparse.Namespace, ctx: Context) -> int:
    """Report every problem with its location; exit 2 if there is any."""
    notes: list[str] = []
    try:
        settings = ctx.settings
    except ConfigError as exc:
        return _report(args, ctx, None, [(exc.source, p) for p in exc.problems], notes)
    problems: list[str] = []
    # Each file is read the way the daemon will read it (regular file, size cap, UTF-8).
    for location, path in _named_files(settings.config):
        try:
            if location.endswith(".ca_cert"):
                files.read_text(path, what=location, limit=files.CONFIG_LIMIT)
            else:
                files.read_secret(path, what=location)
        except UnreadableFile as exc:
            problems += exc.problems
    if not problems:
        # Each channel reads and checks its secrets; no alert is sent.
        try:
            build_channels(settings.config.alerts)
        except ConfigError as exc:
            problems += exc.problems
    source = str(settings.config_path) if settings.config_path else "config"
    try:
        with ctx.open_store(writer=False) as store:
            known = {c.name: c for c in store.connections.all()}
            for i, policy in enumerate(settings.config.policies):
                if policy.connection not in known:
                    problems.append(
                        f"policies[{i}].connection: no connection named "
                        f"{policy.connection!r} is registered"
                    )
                elif not args.offline:
                    problems += _check_policy(
                        i, policy, store, known[policy.connection], ctx, notes
                    )
    except RotatorError as exc:
        notes.append(f"connections not checked ({exc})")
    return _report(args, ctx, settings, [(source, p) for p in problems], notes)


def _report(
    args: argparse.Namespace,
    ctx: Context,
    settings: Settings | None,
    problems: list[tuple[str, str]],
    notes: list[str],
) -> int:
    """Print the outcome (text on stderr/stdout, or one JSON document); 2 on any problem."""
    if args.json:
        document = _report_json(settings, problems, notes)
        output.print_json(document, ctx.stdout)
        return 0 if document["ok"] else 2
    for text in notes:
        output.note(ctx.stderr, text, quiet=args.quiet)
    for source, problem in problems:
        ctx.stderr.write(f"error: {source}: {problem}\n")
    if problems or settings is None:
        return 2
    config = settings.config
    where = settings.config_path or "no config file (defaults)"
    ctx.stdout.write(
        f"config ok: {where}: {len(config.policies)} policies, "
        f"{len(config.alerts)} alert channels, "
        f"{len(config.connections)} connection settings\n"
    )
    return 0


def _report_json(
    settings: Settings | None, problems: list[tuple[str, str]], notes: list[str]
) -> dict[str, Any]:
    """``config check --json``: ``ok``, each problem as source, location and message."""
    document: dict[str, Any] = {
        "ok": not problems and settings is not None,
        "config": str(settings.config_path) if settings and settings.config_path else None,
        "problems": [_problem_json(source, problem) for source, problem in problems],
        "notes": notes,
    }
    if settings is not None:
        config = settings.config
        document["summary"] = {
            "policies": len(config.policies),
            "alert_channels": len(config.alerts),
            "connection_settings": len(config.connections),
        }
    return document


def _problem_json(source: str, problem: str) -> dict[str, str | None]:
    # Problems read "<location>: <message>" (a TOML path such as policies[0].every);
    # a whole-file problem ("file not found") has no location.
    location, separator, message = problem.partition(": ")
    if not separator or " " in location:
        return {"source": source, "location": None, "message": problem}
    return {"source": source, "location": location, "message": message}
