"""The daemon (``rotator run``): the loop, its jobs (when to run what), signals, health, metrics."""
