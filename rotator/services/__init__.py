"""One entry point per operation, used by both the CLI commands and the daemon's jobs.

Validate, audit, rotate, abandon, revoke and due times; :class:`Context`
(:mod:`.context`) is what one command or one daemon wake-up runs with. This
package imports nothing at import time, so a quick command stays quick.
"""
