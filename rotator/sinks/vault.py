"""Vault sink: the key pair as two fields of a KV v2 secret, written with check-and-set.

A push reads the key's metadata and the current version, refuses a path that
another owner has marked, keeps every field that is not ours, writes with
``cas`` = the version read (0 when the key is absent), marks the key in its
``custom_metadata`` and reads the written version back. Pushing a pair the
path already holds writes nothing, so a resumed rotation simply confirms.

The ownership mark lives in the key's ``custom_metadata`` (other entries
there are kept)::

    managed-by          = rotator
    rotator-policy      = <policy name>
    rotator-access-key  = <access key id>
    rotator-rotated-at  = <ISO 8601 time of the rotation>
    rotator-rotation-id = <rotation id>

A key with no ``managed-by`` is free to claim; one managed by anything else,
or by rotator for another policy, is refused.

The token needs, on the secret's paths, ``read``, ``create`` and ``update``
on ``<mount>/data/<path>`` and ``read`` and ``update`` on
``<mount>/metadata/<path>``; :meth:`VaultSink.check` verifies exactly that.

The config table is :mod:`.vault_config`; the Vault API itself is
:mod:`.vault_client` over :mod:`.vault_http`.
"""

from __future__ import annotations

import builtins
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC
from typing import Any, ClassVar

from rotator.errors import SinkError
from rotator.secret import Secret
from rotator.sinks.base import (
    Confirmation,
    Credential,
    PushContext,
    Sink,
    SinkConfig,
    placeholder,
)
from rotator.sinks.vault_client import (
    KeyMetadata,
    SecretVersion,
    VaultClient,
    sealed_message,
)
from rotator.sinks.vault_config import AppRoleConfig, VaultSinkConfig

log = logging.getLogger(__name__)

MANAGED_BY = "managed-by"
MANAGER = "rotator"
POLICY_MARK = "rotator-policy"
ACCESS_KEY_MARK = "rotator-access-key"
ROTATED_AT_MARK = "rotator-rotated-at"
ROTATION_ID_MARK = "rotator-rotation-id"

DATA_CAPABILITIES = frozenset({"read", "create", "update"})
METADATA_CAPABILITIES = frozenset({"read", "update"})


class VaultSink(Sink):
    """Delivers the key pair to one KV v2 secret in Vault or OpenBao."""

    type: ClassVar[str] = "vault"
    Config: ClassVar[builtins.type[SinkConfig]] = VaultSinkConfig

    def __init__(
        self,
        label: str,
        client: VaultClient,
        *,
        mount: str,
        path: str,
        access_key_field: str = "access_key",
        secret_key_field: str = "secret_key",  # noqa: S107 (a field name)
        fields: tuple[tuple[str, str], ...] | None = None,
        policy: str | None = None,
    ) -> None:
        super().__init__(label)
        self._client = client
        self.mount = mount.strip("/")
        self.path = path.strip("/")
        self.access_key_field = access_key_field
        self.secret_key_field = secret_key_field
        self.fields = fields
        # The policy this sink serves, when known before a push: lets check()
        # refuse a path that another rotator policy marked.
        self.policy = policy
        self._mount_checked = False

    @property
    def location(self) -> str:
        """``<mount>/<path>``, as operators write it."""
        return f"{self.mount}/{self.path}"

    # ------------------------------------------------------------ contract

    def check(self) -> None:
        """Prove Vault is unsealed, the login works, the mount is KV v2, the token may
        write the secret and nobody else owns it. Writes nothing.

        Calls ``GET /v1/sys/seal-status``, then the login
        (``GET /v1/auth/token/lookup-self`` or ``POST /v1/auth/{mount}/login``),
        ``GET /v1/sys/internal/ui/mounts/{mount}``,
        ``POST /v1/sys/capabilities-self`` and ``GET /v1/{mount}/metadata/{path}``.
        """
        if self._client.is_sealed():
            raise SinkError(self.label, sealed_message(self._client.address), transient=True)
        self._client.authenticate()
        self._ensure_kv2()
        data_path = f"{self.mount}/data/{self.path}"
        metadata_path = f"{self.mount}/metadata/{self.path}"
        granted = self._client.capabilities([data_path, metadata_path])
        missing = []
        for api_path, needed in (
            (data_path, DATA_CAPABILITIES),
            (metadata_path, METADATA_CAPABILITIES),
        ):
            have = granted.get(api_path, set())
            if "root" in have:
                continue
            lacking = sorted(needed - have) if "deny" not in have else sorted(needed)
            if lacking:
                missing.append(f"{', '.join(lacking)} on {api_path}")
        if missing:
            raise SinkError(
                self.label,
                f"the token at Vault {self._client.address} lacks " + "; ".join(missing),
            )
        metadata = self._client.read_metadata(self.mount, self.path)
        self._refuse_foreign(metadata, self.policy)

    def describe_push(self, access_key: str, context: PushContext) -> list[str]:
        """The writes a push would make; sends only reads.

        Calls ``GET /v1/{mount}/metadata/{path}`` and
        ``GET /v1/{mount}/data/{path}?version=<current>``.
        """
        metadata, current = self._read_current(context.policy)
        version = metadata.current_version if metadata else 0
        data = current.data if current else {}
        custom = metadata.custom_metadata if metadata else {}
        mapping = self._mapping(context.fields)
        id_key = self._target_of(mapping, context.identifier_field)
        if (
            id_key is not None
            and data.get(id_key) == access_key
            and self._marked_for(custom, context.policy, access_key)
        ):
            return [
                f"{self.location} already holds {id_key}={access_key} (version {version}): no write"
            ]
        now = f"now version {version}" if metadata else "new secret"
        shown = ", ".join(
            f"{key}={access_key}" if key == id_key else f"{key}={placeholder(field)}"
            for key, field in mapping
        )
        lines = [f"write {shown} to {self.location} ({now}, cas={version})"]
        kept = sorted(set(data) - {key for key, _ in mapping})
        if kept:
            lines.append(f"keep the other fields of {self.location}: {', '.join(kept)}")
        lines.append(
            f"mark {self.location} in custom_metadata: {MANAGED_BY}={MANAGER}, "
            f"{POLICY_MARK}={context.policy}, {ACCESS_KEY_MARK}={access_key}"
        )
        return lines

    def push(self, keys: Credential, context: PushContext) -> Confirmation:
        """Write the pair with check-and-set, mark the key, and read the version back.

        Calls ``GET /v1/{mount}/metadata/{path}``,
        ``GET /v1/{mount}/data/{path}?version=<current>``, then (unless the
        pair is already there) ``POST /v1/{mount}/data/{path}`` with
        ``options.cas``, ``POST /v1/{mount}/metadata/{path}`` for the mark, and
        ``GET /v1/{mount}/data/{path}?version=<written>`` to confirm.
        """
        metadata, current = self._read_current(context.policy)
        data = dict(current.data) if current else {}
        if self._holds_pair(data, keys):
            version = current.version if current else 0
            log.info(
                "vault sink %s: %s already holds access key %s (version %d); not writing",
                self.label,
                self.location,
                keys.access_key,
                version,
            )
        else:
            for key, value in self._values(keys).items():
                data[key] = value
            cas = metadata.current_version if metadata else 0
            version = self._client.write(self.mount, self.path, data, cas=cas)
            log.info(
                "vault sink %s: wrote access key %s to %s as version %d (cas=%d)",
                self.label,
                keys.access_key,
                self.location,
                version,
                cas,
            )
        self._mark(metadata, keys.access_key, context)
        self._confirm(version, keys, context)
        return Confirmation(self.label, {"version": str(version), "path": self.location})

    def holds(self) -> str | None:
        """The access key id in the latest version, or None when absent or unreadable.

        Calls ``GET /v1/{mount}/data/{path}``.
        """
        try:
            current = self._client.read_version(self.mount, self.path)
        except SinkError as exc:
            log.warning("vault sink %s: cannot tell which key it holds: %s", self.label, exc)
            return None
        key = self.fields[0][0] if self.fields else self.access_key_field
        value = current.data.get(key) if current else None
        return value if isinstance(value, str) and value else None

    def close(self) -> None:
        """Close the HTTP session to Vault."""
        self._client.close()

    # -------------------------------------------------------------- steps

    def _ensure_kv2(self) -> None:
        """Refuse a mount that is missing or not KV version 2 (checked once per sink)."""
        if self._mount_checked:
            return
        kind, version = self._client.mount_kind(self.mount)
        if kind not in ("kv", "generic") or version != "2":
            what = f"KV version {version or 1}" if kind in ("kv", "generic") else f"a {kind} engine"
            raise SinkError(
                self.label,
                f"mount {self.mount!r} at Vault {self._client.address} is {what}, not KV version 2",
            )
        self._mount_checked = True

    def _read_current(self, policy: str) -> tuple[KeyMetadata | None, SecretVersion | None]:
        """The key's metadata and its current version's data, after the ownership check.

        The data is read at the exact version the metadata names, so the
        ``cas`` sent later matches the data we merged into.
        """
        self._ensure_kv2()
        metadata = self._client.read_metadata(self.mount, self.path)
        self._refuse_foreign(metadata, policy)
        if metadata is None or metadata.current_version == 0:
            return metadata, None
        # A deleted or destroyed current version reads as None: nothing to keep.
        current = self._client.read_version(self.mount, self.path, metadata.current_version)
        return metadata, current

    def _refuse_foreign(self, metadata: KeyMetadata | None, policy: str | None) -> None:
        """Raise when another owner marked the key (a missing mark is free to claim)."""
        custom = metadata.custom_metadata if metadata else {}
        manager = custom.get(MANAGED_BY)
        if manager is None:
            return
        if manager != MANAGER:
            owner = f"{manager!r}"
        else:
            marked_policy = custom.get(POLICY_MARK)
            if marked_policy is None:
                owner = "rotator with no policy recorded"
            elif policy is None or marked_policy == policy:
                return
            else:
                owner = f"rotator policy {marked_policy!r}"
        mine = f"policy {policy!r}" if policy else "this sink"
        raise SinkError(
            self.label,
            f"path {self.location} at Vault {self._client.address} is owned by {owner} "
            f"(custom_metadata {MANAGED_BY}={manager}); {mine} will not write there",
        )

    def _mapping(self, fields: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        """(secret key, credential field) pairs: the configured ones, else every field."""
        if self.fields:
            return self.fields
        renamed = {"access_key": self.access_key_field, "secret_key": self.secret_key_field}
        return tuple((renamed.get(field, field), field) for field in fields)

    @staticmethod
    def _target_of(mapping: tuple[tuple[str, str], ...], field: str | None) -> str | None:
        return next((key for key, name in mapping if name == field), None)

    def _values(self, keys: Credential) -> dict[str, str]:
        """The secret's entries for *keys*, secrets revealed (only into the write)."""
        fields = keys.fields()
        mapping = self._mapping(tuple(fields))
        missing = sorted({field for _, field in mapping} - set(fields))
        if missing:
            raise SinkError(self.label, f"the credential has no field {', '.join(missing)}")
        return {
            key: value.reveal() if isinstance(value, Secret) else value
            for key, field in mapping
            for value in (fields[field],)
        }

    def _holds_pair(self, data: Mapping[str, Any], keys: Credential) -> bool:
        """Whether ``data`` already holds exactly these fields (compared in constant time)."""
        for key, value in self._values(keys).items():
            stored = data.get(key)
            if not isinstance(stored, str) or not hmac.compare_digest(
                stored.encode(), value.encode()
            ):
                return False
        return True

    @staticmethod
    def _marked_for(custom: Mapping[str, str], policy: str, access_key: str) -> bool:
        return (
            custom.get(MANAGED_BY) == MANAGER
            and custom.get(POLICY_MARK) == policy
            and custom.get(ACCESS_KEY_MARK) == access_key
        )

    def _mark(self, read: KeyMetadata | None, access_key: str, context: PushContext) -> None:
        """Set the ownership mark, keeping other ``custom_metadata`` entries.

        Skipped when the mark already names this policy and key, so an
        unchanged push writes nothing at all. With OpenBao the update is
        check-and-set on the metadata version too; when the key did not exist
        before our write, its fresh metadata is read first for that version.
        """
        if read is not None and self._marked_for(read.custom_metadata, context.policy, access_key):
            return
        metadata = read if read is not None else self._client.read_metadata(self.mount, self.path)
        custom = dict(metadata.custom_metadata) if metadata else {}
        custom.update(
            {
                MANAGED_BY: MANAGER,
                POLICY_MARK: context.policy,
                ACCESS_KEY_MARK: access_key,
                ROTATED_AT_MARK: _iso(context),
                ROTATION_ID_MARK: context.rotation_id,
            }
        )
        self._client.write_custom_metadata(
            self.mount,
            self.path,
            custom,
            metadata_cas=metadata.metadata_version if metadata else None,
        )

    def _confirm(self, version: int, keys: Credential, context: PushContext) -> None:
        """Read ``version`` back and check it holds the pair and our mark."""
        written = self._client.read_version(self.mount, self.path, version)
        where = f"{self.location} version {version} at Vault {self._client.address}"
        if written is None:
            raise SinkError(self.label, f"read-back of {where} found nothing (deleted meanwhile?)")
        id_key = self._target_of(self._mapping(tuple(keys.fields())), keys.identifier_field)
        if id_key is not None and written.data.get(id_key) != keys.identifier:
            raise SinkError(self.label, f"read-back of {where} does not hold {keys.identifier}")
        if not self._holds_pair(written.data, keys):
            raise SinkError(self.label, f"read-back of {where} holds a different secret")
        if not self._marked_for(written.custom_metadata, context.policy, keys.access_key):
            raise SinkError(
                self.label,
                f"read-back of {where} lacks rotator's ownership mark (changed meanwhile?)",
            )


def _iso(context: PushContext) -> str:
    """The rotation time as ISO 8601, in UTC when the time is aware."""
    at = context.rotated_at
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.isoformat(timespec="seconds")


__all__ = ["AppRoleConfig", "VaultSink", "VaultSinkConfig"]
