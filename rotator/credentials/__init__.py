"""Credential kinds: what rotator rotates. One module per kind, listed once in :data:`KINDS`.

Adding a kind is one module (a :class:`~rotator.credentials.base.CredentialKind`),
one line in :data:`KINDS`, its sandbox model and the shared rotation tests
passing for it. The settings' ``kind = …`` values and the policy keys each
kind reads are derived from :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from rotator.credentials.base import Credential, CredentialKind, Current, KeyPair
from rotator.credentials.database_user import DatabaseUserKind
from rotator.credentials.functions_key import FunctionsKeyKind
from rotator.credentials.genai_agent_key import GenAIAgentKeyKind
from rotator.credentials.registry_credentials import RegistryCredentialsKind
from rotator.credentials.spaces_key import SpacesKeyKind

KINDS: Final[tuple[type[CredentialKind], ...]] = (
    SpacesKeyKind,
    FunctionsKeyKind,
    GenAIAgentKeyKind,
    RegistryCredentialsKind,
    DatabaseUserKind,
)

KIND_NAMES: Final[Mapping[str, type[CredentialKind]]] = MappingProxyType(
    {kind.kind: kind for kind in KINDS}
)

OPTION_KEYS: Final[frozenset[str]] = frozenset(key for kind in KINDS for key in kind.option_keys)
"""Every kind-specific policy key."""

DEFAULT_KIND: Final[str] = SpacesKeyKind.kind

__all__ = [
    "DEFAULT_KIND",
    "KINDS",
    "KIND_NAMES",
    "OPTION_KEYS",
    "Credential",
    "CredentialKind",
    "Current",
    "KeyPair",
]
