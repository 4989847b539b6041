"""rotator: keeps DigitalOcean credentials healthy.

Layering, top to bottom, each layer importing only from the ones below it:
the command line (``cli``, ``commands``: parse arguments, print) → ``engine``
(the daemon: when to run what) → ``services`` (one entry point per operation,
shared by the CLI and the engine) → the domain (``rotation``, ``audit``,
``alerting``, ``events``) → ``settings`` (the config, assembled from each
plugin's own model) → adapters (``store``, ``digitalocean``, ``sinks``,
``alerts``) → base (``errors``, ``configtypes``, ``crypto``, ``secret``,
``durations``, ``logs``, ``output``); ``sandbox`` stands apart, for the demo
and the tests. ``python -m tests.support.layers`` checks it.

Validates and audits API tokens, rotates Spaces access keys without downtime,
pushes fresh keys into App Platform and Vault, and alerts operators.
"""

__version__ = "0.1.0"
