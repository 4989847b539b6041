"""One module per group of subcommands; each command is a small function.

A command takes the parsed arguments and a :class:`rotator.services.context.Context`
and returns an exit code; known failures are raised as RotatorError and
turned into one ``error:`` line by :mod:`rotator.cli`.
"""
