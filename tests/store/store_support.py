"""Helpers for the store's tests."""

from __future__ import annotations

from rotator.crypto import Keyring, MasterKey


def ring() -> Keyring:
    """A keyring with a fresh master key."""
    return Keyring(MasterKey.from_text(MasterKey.generate_text(), "test"))
