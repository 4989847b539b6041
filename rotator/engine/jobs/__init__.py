"""The daemon's jobs: when to validate, audit, rotate, revoke and send alerts.

Each module holds one job (a :class:`~rotator.engine.jobs.base.Job`): it reads
its items' due times from the store (:mod:`rotator.engine.jobs.due`) and does
the due ones through :mod:`rotator.services`, the code the CLI commands use.
Nothing is imported at import time.
"""
