"""Helpers the tests share (the layering check, and later clocks, stores, ports, receivers)."""
