"""The contract every credential kind fulfils, and the value that crosses it.

A *kind* is one sort of DigitalOcean credential rotator can rotate (a Spaces
key, a Functions namespace key, a GenAI agent key, ...). The rotation state
machine (:mod:`rotator.rotation.machine`) owns the control flow and is the
same for every kind; a kind only answers what is particular to it:

- :attr:`CredentialKind.option_keys`: the policy keys it reads (``namespace``,
  ``agent``, ...), :attr:`CredentialKind.required`: those a policy must set;
- :meth:`CredentialKind.scopes`: the DigitalOcean scopes its calls need
  (the scope audit requires them);
- :attr:`CredentialKind.fields`: the named fields it hands to sinks, and
  :attr:`CredentialKind.identifier_field`, the one naming the credential
  publicly (a sink shows it; None when no field does);
- :meth:`current`: the credential the policy names, adopted on the first run;
- :meth:`template`: what a successor must copy from the current credential
  (a Spaces key's grants), read before anything is created;
- :meth:`create`: make a successor named by the rotation's planned name and
  return it with its secret (shown once: the machine seals it at once);
- :meth:`find`: the identifiers of credentials carrying a planned name (a
  crash between the create and its record leaves one nobody holds);
- :meth:`verify`: prove a fresh credential works (optional);
- :meth:`revoke`: delete one (False when it was already gone); a kind whose
  revoke needs the credential itself (:attr:`CredentialKind.revoke_needs_secret`:
  a registry credential's OAuth revoke is authenticated by its own token)
  gets it unsealed from the rotation that made it, or None when rotator
  never held it.

Secrets cross the store as one sealed text: :meth:`seal` and :meth:`unseal`
turn a :class:`Credential`'s secret fields into it and back. Nothing here
logs, returns in an error or shows a secret.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import NotFound, StoreCorrupt, UsageError
from rotator.secret import Secret

FieldValue = str | Secret


class Credential:
    """A credential's public identifier and the named fields a sink maps to its targets."""

    __slots__ = ("_fields", "identifier", "identifier_field")

    def __init__(
        self,
        identifier: str,
        fields: Mapping[str, FieldValue],
        identifier_field: str | None = "access_key",
    ) -> None:
        self.identifier = identifier
        self.identifier_field = identifier_field
        self._fields = dict(fields)

    def fields(self) -> dict[str, FieldValue]:
        """The named fields (env names, JSON keys, file lines map to these).

        Secret fields stay :class:`Secret` until the sink writes them where
        they belong.
        """
        return dict(self._fields)

    @property
    def access_key(self) -> str:
        """The public identifier (a Spaces key's access key; any kind's id)."""
        return self.identifier

    @property
    def secret_key(self) -> Secret:
        """The first secret field (a Spaces key's secret key)."""
        for value in self._fields.values():
            if isinstance(value, Secret):
                return value
        raise KeyError("this credential has no secret field")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credential):
            return NotImplemented
        mine = {k: _plain(v) for k, v in self._fields.items()}
        theirs = {k: _plain(v) for k, v in other._fields.items()}
        return self.identifier == other.identifier and mine == theirs

    def __hash__(self) -> int:
        return hash((self.identifier, tuple(sorted(self._fields))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identifier!r}, fields={sorted(self._fields)})"


class KeyPair(Credential):
    """A Spaces access key id and its secret (the ``spaces_key`` kind's credential)."""

    __slots__ = ()

    def __init__(self, access_key: str, secret_key: Secret) -> None:
        super().__init__(access_key, {"access_key": access_key, "secret_key": secret_key})


def _plain(value: FieldValue) -> str:
    return value.reveal() if isinstance(value, Secret) else value


@dataclass(frozen=True)
class Current:
    """The credential a policy names, as DigitalOcean shows it (never its secret)."""

    identifier: str
    created_at: datetime | None = None
    """When DigitalOcean says it was made: its age survives a failed first rotation."""


def parse_time(text: object) -> datetime | None:
    """A DigitalOcean timestamp as an aware UTC datetime, or None when unclear."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class CredentialKind(ABC):
    """One kind of credential, bound to one policy's options and connection."""

    kind: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]
    """The fields it hands to sinks."""
    identifier_field: ClassVar[str | None]
    """The field holding the public identifier (None when no field does)."""
    secret_fields: ClassVar[frozenset[str]]
    option_keys: ClassVar[tuple[str, ...]]
    """The policy keys this kind reads."""
    required: ClassVar[tuple[str, ...]]
    """The policy keys a policy of this kind must set."""
    noun: ClassVar[str] = "key"
    downtime: ClassVar[str] = "none: the old credential lives through the grace period"
    revoke_needs_secret: ClassVar[bool] = False
    """Whether :meth:`revoke` needs the credential's secret (only then is it unsealed)."""
    expires_by_itself: ClassVar[bool] = False
    """Whether every credential of this kind ends by its own expiry (a required one): a
    previous credential that cannot be revoked then does not hold up the next rotation,
    which would leave the current one to expire with no successor."""

    def __init__(self, policy: str, options: Mapping[str, str], client: DigitalOceanClient) -> None:
        self.policy = policy
        self.options = dict(options)
        self.client = client

    @classmethod
    @abstractmethod
    def scopes(cls, options: Mapping[str, str]) -> frozenset[str]:
        """The scopes a token needs to rotate this kind (the audit requires them)."""

    @classmethod  # noqa: B027 (optional: most kinds check nothing more)
    def check_options(cls, options: Mapping[str, str]) -> None:
        """Raise ValueError for option values this kind refuses (config check)."""

    def planned_name(self, rotation_id: str) -> str:
        """The name a rotation gives its new credential, so it can be found after a crash."""
        return f"rotator-{self.policy}-{rotation_id}"

    @abstractmethod
    def current(self) -> Current:
        """The credential the policy names (adopted on the first run)."""

    def template(self, identifier: str) -> tuple[Mapping[str, str], ...]:
        """What a successor of *identifier* copies (a Spaces key's grants); NotFound if gone."""
        return ()

    def describe_create(self, name: str, identifier: str) -> str:
        """One dry-run line saying what :meth:`create` would make."""
        return f"create {self.noun} {name} ({self.where()})"

    @abstractmethod
    def where(self) -> str:
        """Where this kind's credentials live, for messages (never secret)."""

    def _named(self, path: str, key: str) -> object:
        """``GET path``'s *key* member: the resource the policy names (UsageError if absent)."""
        try:
            return self.client.get_json(path).get(key)
        except NotFound as exc:
            raise UsageError(f"no {self.where()} in this account") from exc

    @abstractmethod
    def create(self, name: str, template: tuple[Mapping[str, str], ...]) -> Credential:
        """A new credential named *name*; raises DigitalOceanError (never retried blindly)."""

    @abstractmethod
    def find(self, name: str) -> list[str]:
        """The identifiers of every credential carrying exactly *name*."""

    def verify(self, credential: Credential) -> None:  # noqa: B027 (optional)
        """Prove *credential* works; raise RotatorError when it does not."""

    @abstractmethod
    def revoke(self, identifier: str, credential: Credential | None = None) -> bool:
        """Delete *identifier*; False when it was already gone.

        *credential* is the credential itself when :attr:`revoke_needs_secret`
        and rotator holds it (None otherwise).
        """

    # -- the sealed form in the store ---------------------------------------------

    def seal(self, credential: Credential) -> Secret:
        """Every field as one text for the store's sealed column."""
        values = {name: _plain(value) for name, value in credential.fields().items()}
        return Secret(json.dumps(values, sort_keys=True))

    def unseal(self, identifier: str, sealed: Secret) -> Credential:
        """The credential back from :meth:`seal`'s text."""
        try:
            values = json.loads(sealed.reveal())
        except ValueError:
            values = None
        if not isinstance(values, dict) or set(values) != set(self.fields):
            raise StoreCorrupt(f"the sealed {self.kind} credential {identifier} is not readable")
        return Credential(
            identifier,
            {
                name: Secret(str(values[name])) if name in self.secret_fields else str(values[name])
                for name in self.fields
            },
            self.identifier_field,
        )
