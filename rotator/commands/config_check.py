"""``rotator config check``: validate the environment and the config file."""

from __future__ import annotations

import argparse
from pathlib import Path

from rotator import files
from rotator.audit import audit_token
from rotator.context import Context
from rotator.digitalocean.scopes import required_scopes
from rotator.digitalocean.spaces import find_key
from rotator.errors import (
    APIError,
    ConfigError,
    DigitalOceanError,
    RotatorError,
    SinkError,
    UnreadableFile,
    UsageError,
)
from rotator.rotation_store import RotationStore
from rotator.settings import (
    AppRoleConfig,
    FileConfig,
    PolicyConfig,
    SlackAlertConfig,
    VaultSinkConfig,
    WebhookAlertConfig,
)
from rotator.sinks import SinkDeps, build_sink
from rotator.store import Connection, Store


def _secret_files(config: FileConfig) -> list[tuple[str, Path]]:
    """Every ``*_file`` the config names, with its location."""
    found: list[tuple[str, Path]] = []
    for i, policy in enumerate(config.policies):
        for j, sink in enumerate(policy.sinks):
            where = f"policies[{i}].sinks[{j}]"
            if isinstance(sink, VaultSinkConfig):
                if sink.token_file is not None:
                    found.append((f"{where}.token_file", sink.token_file))
                if isinstance(sink.approle, AppRoleConfig) and sink.approle.secret_id_file:
                    found.append((f"{where}.approle.secret_id_file", sink.approle.secret_id_file))
                if sink.ca_cert is not None:
                    found.append((f"{where}.ca_cert", sink.ca_cert))
    for i, alert in enumerate(config.alerts):
        if isinstance(alert, WebhookAlertConfig) and alert.secret_file is not None:
            found.append((f"alerts[{i}].secret_file", alert.secret_file))
        if isinstance(alert, SlackAlertConfig) and alert.url_file is not None:
            found.append((f"alerts[{i}].url_file", alert.url_file))
    return found


def _transient(exc: BaseException) -> bool:
    """Whether a failure, or what caused it, might pass on its own (timeout, 5xx, 429)."""
    cause: BaseException | None = exc
    while cause is not None:
        if getattr(cause, "transient", False):
            return True
        cause = cause.__cause__
    return False


def _check_policy(
    index: int, policy: PolicyConfig, store: Store, connection: Connection, ctx: Context
) -> list[str]:
    """What DigitalOcean and the sinks say about one policy; reads only.

    A definite answer (no such key, a missing scope, an unknown component, a
    Vault path owned by someone else) is a problem; an unreachable service is
    a note, since the config itself may be right.
    """
    where = f"policies[{index}]"
    problems: list[str] = []

    def note(what: str, exc: Exception) -> None:
        ctx.stderr.write(f"note: {where}: {what} not checked ({exc})\n")

    token = store.open_token(connection)
    with ctx.clients()(token) as client:
        current = RotationStore(store).policy_keys(policy.name)
        reference = current.current_access_key if current else policy.spaces_key
        try:
            find_key(client, reference)
        except UsageError as exc:
            problems.append(f"{where}.spaces_key: {exc}")
        except DigitalOceanError as exc:
            if isinstance(exc, APIError) and exc.status == 403:
                problems.append(f"{where}.spaces_key: the connection's token lacks spaces_key:read")
            else:
                note("the Spaces key", exc)
        required = required_scopes(
            policy.connection,
            ctx.settings.config.policies,
            ctx.settings.connection_config(policy.connection).extra_scopes,
        )
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
            deps = SinkDeps(digitalocean=client, extra={"policy": policy.name})
            sink = build_sink(config, deps)
            try:
                sink.check()
            except SinkError as exc:
                if _transient(exc):
                    note(f"sink {sink.label}", exc)
                else:
                    problems.append(f"{where}.sinks[{number}]: {exc}")
            except RotatorError as exc:
                note(f"sink {sink.label}", exc)
            finally:
                sink.close()
    return problems


def check(args: argparse.Namespace, ctx: Context) -> int:
    """Report every problem with its location; exit 2 if there is any."""
    try:
        settings = ctx.settings
    except ConfigError as exc:
        for problem in exc.problems:
            ctx.stderr.write(f"error: {exc.source}: {problem}\n")
        return 2
    problems: list[str] = []
    for location, path in _secret_files(settings.config):
        try:
            if location.endswith(".ca_cert"):
                files.read_text(path, what=location, limit=files.CONFIG_LIMIT)
            else:
                files.read_secret(path, what=location)
        except UnreadableFile as exc:
            problems += exc.problems
    source = str(settings.config_path) if settings.config_path else "config"
    try:
        with ctx.open_store(writer=False) as store:
            known = {c.name: c for c in store.list_connections()}
            for i, policy in enumerate(settings.config.policies):
                if policy.connection not in known:
                    problems.append(
                        f"policies[{i}].connection: no connection named "
                        f"{policy.connection!r} is registered"
                    )
                elif not args.offline:
                    problems += _check_policy(i, policy, store, known[policy.connection], ctx)
    except RotatorError as exc:
        ctx.stderr.write(f"note: connections not checked ({exc})\n")
    for problem in problems:
        ctx.stderr.write(f"error: {source}: {problem}\n")
    if problems:
        return 2
    config = settings.config
    where = settings.config_path or "no config file (defaults)"
    ctx.stdout.write(
        f"config ok: {where}: {len(config.policies)} policies, "
        f"{len(config.alerts)} alert channels, "
        f"{len(config.connections)} connection settings\n"
    )
    return 0
