"""``rotator connection audit NAME``: what the token can do, against what it needs.

Exit 0 when the verdict is ``ok``, 1 when the audit found a problem
(missing scopes, too broad, invalid, undecided), 2 for a usage error. The
audit only reads and probes: it changes nothing in DigitalOcean.
"""

from __future__ import annotations

import argparse

from rotator.audit import ScopeReport
from rotator.digitalocean.scopes import FULL_ACCESS, READ_ONLY, READ_SCOPES
from rotator.output import print_fields, print_json, when
from rotator.services.audit import audit_connection as audit_now
from rotator.services.context import Context


def audit_connection(args: argparse.Namespace, ctx: Context) -> int:
    """Audit one connection's token (reusing a report younger than ``daemon.audit_every``)."""
    report = audit_now(ctx, args.name, refresh=args.refresh)
    if args.json:
        print_json(report.to_json(), ctx.stdout)
    else:
        _print(report, ctx)
    return 0 if report.verdict == "ok" else 1


def _print(report: ScopeReport, ctx: Context) -> None:
    audited = when(report.audited_at, ctx.now())
    if report.cached:
        audited += ", cached (--refresh to ask again)"
    calls = f"{_count(report.api_calls, 'API call')}, {_count(report.probe_calls, 'probe')}"
    fields: list[tuple[str, object]] = [
        ("name", report.name),
        ("verdict", f"{report.verdict.upper()}: {report.reason}"),
        ("token", f"{report.fingerprint}…"),
        ("audited", audited),
        ("source", f"{report.source.replace('_', ' ')} ({calls})"),
        ("required", _names(report.required)),
        ("granted", _granted(report)),
        ("missing", _names(report.missing)),
        ("excess", _compact(report.excess)),
    ]
    if report.unknown:
        fields.append(("unknown", _names(report.unknown)))
    if report.not_probed and report.source == "probes":
        fields.append(("not probed", f"{len(report.not_probed)} scopes without a safe probe"))
    if report.blast_radius is not None:
        fields.append(("blast radius", report.blast_radius.sentence))
    if report.expires_at is not None:
        fields.append(("expires", when(report.expires_at)))
    print_fields(fields, ctx.stdout)
    for warning in report.warnings:
        ctx.stdout.write(f"warning: {warning}\n")


def _granted(report: ScopeReport) -> str:
    if report.full_access:
        return f"full access ({FULL_ACCESS})"
    return _compact(report.granted)


def _compact(names: tuple[str, ...]) -> str:
    # An alias stands for dozens of read scopes; naming it says more than listing them.
    if READ_ONLY not in names:
        return _names(names)
    reads = [name for name in names if name in READ_SCOPES and name != READ_ONLY]
    rest = tuple(name for name in names if name not in READ_SCOPES and name != READ_ONLY)
    text = f"{READ_ONLY} ({len(reads)} read scopes)"
    return text + (f" + {_names(rest)}" if rest else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names) if names else "-"
