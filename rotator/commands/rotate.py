"""``rotator rotate POLICY``: rotate a Spaces key now (or finish an interrupted rotation)."""

from __future__ import annotations

import argparse

from rotator.context import Context
from rotator.jobs.policy import policy_rotation
from rotator.output import print_json, when
from rotator.rotation import RotationResult


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
        out.write(f"  old key is deleted after {when(result.revoke_after)}\n")
    if result.error:
        out.write(
            f"  the old key stays alive; fix the cause and run `rotator rotate "
            f"{result.policy}` again to resume\n"
        )


def rotate(args: argparse.Namespace, ctx: Context) -> int:
    """Rotate one policy's key into its sinks; exit 1 if the rotation failed."""
    policy = ctx.policy(args.policy)
    with ctx.open_store(writer=True) as store:
        alerting = None if args.dry_run else ctx.alerting(store)
        with policy_rotation(
            store,
            policy,
            ctx.clients(),
            lock_dir=ctx.settings.state_dir,
            notify=alerting.rotation_event if alerting else None,
        ) as rotation:
            result = rotation.rotate(dry_run=args.dry_run)
        if alerting is not None:
            alerting.flush()
    if args.json:
        print_json(result.to_json(), ctx.stdout)
    else:
        print_result(result, ctx)
    if result.error:
        ctx.stderr.write(f"error: policy {result.policy}: rotation failed: {result.error}\n")
        return 1
    return 0
