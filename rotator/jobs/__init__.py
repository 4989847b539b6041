"""The daemon's jobs: validate tokens, audit scopes, rotate keys, revoke old keys, send alerts.

Each module holds one job (a :class:`~rotator.jobs.base.Job`): it reads its
items' due times from the store (:mod:`rotator.jobs.due`) and does the due
ones through the same code the CLI commands use. :mod:`rotator.jobs.policy`
builds a policy's rotation for both the daemon and ``rotator rotate``. This
package imports nothing at import time, so ``rotator rotate`` stays quick to
start.
"""
