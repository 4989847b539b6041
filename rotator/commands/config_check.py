"""``rotator config check``: validate the environment and the config file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rotator.context import Context
from rotator.errors import ConfigError, RotatorError
from rotator.settings import (
    AppRoleConfig,
    FileConfig,
    SlackAlertConfig,
    VaultSinkConfig,
    WebhookAlertConfig,
)


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


def check(args: argparse.Namespace, ctx: Context) -> int:
    """Report every problem with its location; exit 2 if there is any."""
    try:
        settings = ctx.settings
    except ConfigError as exc:
        for problem in exc.problems:
            ctx.stderr.write(f"error: {exc.source}: {problem}\n")
        return 2
    problems = [
        f"{where}: cannot read {path}"
        for where, path in _secret_files(settings.config)
        if not os.access(path, os.R_OK)
    ]
    source = str(settings.config_path) if settings.config_path else "config"
    try:
        with ctx.open_store(writer=False) as store:
            known = {c.name for c in store.list_connections()}
        for i, policy in enumerate(settings.config.policies):
            if policy.connection not in known:
                problems.append(
                    f"policies[{i}].connection: no connection named "
                    f"{policy.connection!r} is registered"
                )
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
