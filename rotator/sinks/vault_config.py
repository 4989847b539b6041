"""The vault sink's config table: the server, the KV v2 path, the login, the field map.

``[[policy.sink]] type = "vault"``: exactly one login (``token``,
``token_file`` or ``approle``); secret files are read when the sink is built,
never when the config is parsed. The sink itself is :mod:`rotator.sinks.vault`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr, model_validator

from rotator import files
from rotator.configtypes import (
    Duration,
    HttpUrl,
    NonEmpty,
    ReadableFile,
    Strict,
    one_of,
    read_secret,
    seconds,
)
from rotator.errors import UnreadableFile
from rotator.sinks.base import SinkConfig, SinkDeps
from rotator.sinks.vault_client import DEFAULT_TIMEOUT, AppRoleLogin, TokenLogin, VaultClient

if TYPE_CHECKING:
    from rotator.sinks.vault import VaultSink


class AppRoleConfig(Strict):
    """``approle = {...}``: Vault AppRole login."""

    role_id: NonEmpty
    secret_id: SecretStr | None = None
    secret_id_file: ReadableFile | None = None
    mount: str = "approle"

    @model_validator(mode="after")
    def _secret_given(self) -> AppRoleConfig:
        one_of(self, "secret_id", "secret_id_file")
        return self


class VaultSinkConfig(SinkConfig):
    """``type = "vault"``: a Vault (or OpenBao) KV v2 path that receives the key pair."""

    type: Literal["vault"]
    url: HttpUrl
    mount: NonEmpty = "secret"
    path: NonEmpty
    namespace: str | None = None
    token: SecretStr | None = None
    token_file: ReadableFile | None = None
    approle: AppRoleConfig | None = None
    ca_cert: ReadableFile | None = None
    tls_verify: bool = True
    access_key_field: str = "access_key"
    secret_key_field: str = "secret_key"  # noqa: S105 (a field name)
    # Which credential fields go in the secret, under which keys: { key = "field" }.
    # Unset: every field of the policy's kind under its own name (a Spaces key's
    # two under access_key_field and secret_key_field).
    fields: dict[NonEmpty, NonEmpty] | None = None
    # The most one request to Vault may take.
    timeout: Duration = timedelta(seconds=DEFAULT_TIMEOUT)

    @model_validator(mode="after")
    def _one_auth(self) -> VaultSinkConfig:
        ways = [w for w in ("token", "token_file", "approle") if getattr(self, w) is not None]
        if len(ways) != 1:
            raise ValueError("set exactly one of token, token_file or approle")
        return self

    def default_label(self) -> str:
        return f"{self.mount}/{self.path}"

    def field_names(self) -> frozenset[str]:
        """The credential fields this sink reads (empty: whatever the kind has)."""
        return frozenset(self.fields.values()) if self.fields else frozenset()

    def build(self, deps: SinkDeps) -> VaultSink:
        """The sink and its connection; reads the token or secret_id file, sends nothing."""
        # The sink names this model as its Config, so it is imported here, not at the top.
        from rotator.sinks.vault import VaultSink

        label = self.label
        login: TokenLogin | AppRoleLogin
        if self.approle is not None:
            approle = self.approle
            secret_id = read_secret(
                approle.secret_id, approle.secret_id_file, f"sink {label}: AppRole secret_id"
            )
            login = AppRoleLogin(approle.role_id, secret_id, approle.mount)
        else:
            login = TokenLogin(read_secret(self.token, self.token_file, f"sink {label}: token"))
        if self.ca_cert is not None:  # a regular, bounded file before TLS reads it (no FIFO)
            try:
                files.read_text(
                    self.ca_cert, what=f"sink {label}: ca_cert", limit=files.CONFIG_LIMIT
                )
            except UnreadableFile as exc:
                if not exc.missing:  # a missing one fails at the first push, naming the server
                    raise
        verify: bool | str = str(self.ca_cert) if self.ca_cert is not None else self.tls_verify
        client = VaultClient(
            label,
            self.url,
            login,
            namespace=self.namespace,
            verify=verify,
            timeout=seconds(self.timeout),
        )
        return VaultSink(
            label,
            client,
            mount=self.mount,
            path=self.path,
            access_key_field=self.access_key_field,
            secret_key_field=self.secret_key_field,
            fields=tuple(self.fields.items()) if self.fields else None,
            policy=deps.policy,
        )
