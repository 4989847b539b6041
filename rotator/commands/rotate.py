"""``rotator rotate POLICY``: rotate a Spaces key, resume an interrupted rotation, or give it up."""

from __future__ import annotations

import argparse

from rotator import logs
from rotator.errors import UsageError
from rotator.output import ProgressLine, print_json, when
from rotator.rotation import RotationResult
from rotator.services import rotate as rotation
from rotator.services.context import Context


def print_result(result: RotationResult, ctx: Context) -> None:
    out = ctx.stdout
    heading = f"policy {result.policy}: {result.status.replace('_', ' ')}"
    if result.rotation_id:
        heading += f" (rotation {result.rotation_id})"
    out.write(heading + "\n")
    if result.status == "dry_run":
        out.write("nothing was changed; a rotation would:\n")
        for number, step in enumerate(result.steps, 1):
            out.write(f"  {number}. {step}\n")
        return
    out.write(f"  old key: {result.old_access_key or '-'}\n")
    out.write(f"  new key: {result.new_access_key or '-'}\n")
    for sink in result.sinks:
        detail = " ".join(f"{k}={v}" for k, v in sink.detail.items())
        out.write(f"  sink {sink.name}: {sink.status} {detail}".rstrip() + "\n")
    if result.revoke_after:
        out.write(f"  old key is revoked after {when(result.revoke_after)}\n")
    if result.error:
        out.write(
            f"  the old key stays alive; fix the cause and run `rotator rotate "
            f"{result.policy}` again to resume\n"
        )


def rotate(args: argparse.Namespace, ctx: Context) -> int:
    """Rotate one policy's key into its sinks; exit 1 if the rotation failed."""
    if args.abandon:
        return abandon(args, ctx)
    if args.yes or args.reason is not None:
        raise UsageError("--yes and --reason go with --abandon")
    # Phase changes (created key, PUT, the deployment's phases) go to stderr as they
    # happen, so a rotation waiting minutes for its deployment is not silent.
    with ProgressLine(ctx.stderr, enabled=not args.quiet) as progress:
        result = rotation.rotate_now(ctx, args.policy, dry_run=args.dry_run, progress=progress)
    if args.json:
        print_json(result.to_json(), ctx.stdout)
    else:
        print_result(result, ctx)
    if result.error:
        logs.problem(
            ctx.stderr,
            "error",
            f"policy {result.policy}: rotation failed: {result.error}",
            policy=result.policy,
        )
        return 1
    return 0


def abandon(args: argparse.Namespace, ctx: Context) -> int:
    """Give up the policy's rotation in flight, after a confirmation unless --yes."""
    if args.dry_run:
        raise UsageError("--abandon and --dry-run do not go together")
    policy = ctx.policy(args.policy)
    if not args.yes:
        if not ctx.stdin.isatty():
            raise UsageError("refusing to abandon a rotation without --yes when not on a terminal")
        ctx.stderr.write(
            f"abandon the rotation in flight of policy {policy.name!r}? Its new key is "
            "deleted unless a sink holds it; the old key stays. [y/N] "
        )
        ctx.stderr.flush()
        if ctx.stdin.readline().strip().lower() not in ("y", "yes"):
            ctx.stderr.write("not abandoned\n")
            return 1
    done = rotation.abandon_now(ctx, policy.name, reason=args.reason or rotation.ABANDON_REASON)
    if args.json:
        print_json(done.to_json(), ctx.stdout)
        return 0
    ctx.stdout.write(f"policy {done.policy}: rotation {done.rotation_id} abandoned\n")
    ctx.stdout.write(f"  current key stays: {done.old_access_key}\n")
    deleted = ", ".join(done.deleted_keys) or "none (no new key was made)"
    ctx.stdout.write(f"  deleted new key: {deleted}\n")
    ctx.stdout.write(f"  reason: {done.reason}\n")
    return 0
