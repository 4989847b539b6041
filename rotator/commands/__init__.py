"""The command line's subcommands: one module per group, each command a small function.

A command parses nothing itself (``rotator.cli`` did), calls one entry point
of :mod:`rotator.services` with a :class:`rotator.services.context.Context`,
prints what it got and returns an exit code; known failures are raised as
RotatorError and turned into one ``error:`` line by :mod:`rotator.cli`.
"""
