"""The handful of Vault HTTP calls the Vault sink makes, spoken directly with httpx.

Design decision: **one HTTP stack and one error map for Vault.** The sink
needs nine endpoints (seal status, token lookup-self, AppRole login, the
mount preflight, capabilities-self, and KV v2 metadata read/write and data
read/write with ``cas``). An earlier version reached them through hvac and
ended up beside it anyway: raw adapter calls where hvac had no method or did
the wrong thing (``update_metadata`` resets ``delete_version_after``), a
check for redirects that hvac counts as success, a table putting back the
HTTP status hvac's exceptions drop, and a second transport (requests) with
its own exception tree and environment lookups to switch off. hvac no longer
earned its place, so rotator talks to Vault's HTTP API itself, on httpx like
the rest of rotator: this module holds the calls, :mod:`rotator.sinks.vault_http`
the transport and the error map. hvac is no dependency any more.

- **Explicit settings only.** Address, token or AppRole, namespace
  (``X-Vault-Namespace``), TLS verification and CA file come from the config;
  ``trust_env=False`` keeps ``VAULT_*``, proxies, ``SSL_CERT_FILE`` and
  ``.netrc`` out of it. Redirects are never followed: one could carry the
  token to a host nobody configured.
- **A deadline per request.** No wait exceeds ``timeout`` and the whole
  answer must be in ``timeout`` seconds after the request started.
- **One error map.** Every answer that is not 2xx and every httpx failure
  leaves as one :class:`~rotator.errors.SinkError` naming the sink and the
  server's ``host:port``, ``transient`` when it may pass on its own (no
  answer, 429, 5xx, sealed). Messages never hold the token, the AppRole
  secret_id or a value being written: Vault's own text is scrubbed first.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rotator.errors import SinkError
from rotator.secret import Secret
from rotator.sinks.vault_http import (
    DEFAULT_TIMEOUT,
    Answer,
    AppRoleLogin,
    TokenLogin,
    VaultHTTP,
    api_path,
    host_port,
    sealed_message,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TIMEOUT",
    "AppRoleLogin",
    "KeyMetadata",
    "SecretVersion",
    "TokenLogin",
    "VaultClient",
    "host_port",
    "sealed_message",
]


@dataclass(frozen=True)
class KeyMetadata:
    """What ``GET /v1/{mount}/metadata/{path}`` says about one key."""

    current_version: int
    custom_metadata: dict[str, str]
    # OpenBao ≥ 2.4 versions the metadata itself (``metadata_cas``); Vault does not.
    metadata_version: int | None


@dataclass(frozen=True)
class SecretVersion:
    """One version of a KV v2 secret: its fields and the key's custom metadata."""

    version: int
    data: dict[str, Any] = field(repr=False)
    custom_metadata: dict[str, str]


def _strings(value: object) -> dict[str, str]:
    """A ``custom_metadata`` map (Vault answers null when there is none)."""
    if not isinstance(value, Mapping):
        return {}
    return {str(key): str(item) for key, item in value.items()}


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class VaultClient(VaultHTTP):
    """The Vault calls of one sink: auth, the mount and capability checks, KV v2."""

    # ----------------------------------------------------------------- auth

    def authenticate(self) -> None:
        """Prove the credentials work.

        A token is looked up (``GET /v1/auth/token/lookup-self``, allowed by
        Vault's default policy); AppRole logs in
        (``POST /v1/auth/{mount}/login``) and keeps the token it receives.
        """
        if isinstance(self._login, AppRoleLogin):
            self._approle_login(self._login)
            return
        self._call("GET", "/v1/auth/token/lookup-self", "looking up its own token")

    def _approle_login(self, login: AppRoleLogin) -> None:
        """``POST /v1/auth/{mount}/login`` with role_id and secret_id; keep the client token."""
        mount = login.mount.strip("/")
        body = {"role_id": login.role_id, "secret_id": login.secret_id.reveal()}
        answer = self._call(
            "POST",
            api_path("/v1/auth/{mount}/login", mount=mount),
            f"logging in with AppRole at auth/{mount}",
            json_body=body,
            authenticated=False,
            expect=(400, 401, 403),
        )
        where = f"Vault at {self.address} refused the AppRole login at auth/{mount}"
        if answer.status == 403:
            # No token is involved yet: a 403 here means no such auth mount.
            raise SinkError(
                self.label, f"{where} (403: is AppRole enabled at that mount, in this namespace?)"
            )
        if answer.status in (400, 401):
            raise SinkError(
                self.label,
                f"{where} (role_id or secret_id wrong, or the secret_id expired or was used up)",
            )
        auth = answer.body.get("auth")
        token = auth.get("client_token") if isinstance(auth, Mapping) else None
        if not isinstance(token, str) or not token:
            raise SinkError(
                self.label, f"Vault at {self.address} answered the AppRole login without a token"
            )
        self._token = Secret(token)
        self._hidden.append(self._token)

    # ------------------------------------------------------------ system

    def is_sealed(self) -> bool:
        """Whether the server is sealed: ``GET /v1/sys/seal-status`` (unauthenticated)."""
        answer = self._call(
            "GET", "/v1/sys/seal-status", "reading the seal status", authenticated=False
        )
        return bool(answer.body.get("sealed"))

    def mount_kind(self, mount: str) -> tuple[str, str | None]:
        """The engine type and KV version of ``mount``.

        ``GET /v1/sys/internal/ui/mounts/{mount}``: the preflight the Vault
        CLI uses, allowed for any token that has a capability under the mount
        (``sys/mounts`` would need more). Vault answers 403 both for a
        missing mount and for one the token may not see.
        """
        mount = mount.strip("/")
        action = f"looking up the mount {mount}"
        path = api_path("/v1/sys/internal/ui/mounts/{mount}", mount=mount)
        answer = self._call("GET", path, action, expect=(403,))
        if answer.status == 403:
            if self._token_rejected():
                raise self._refused(answer, action)
            raise SinkError(
                self.label,
                f"Vault at {self.address} has no mount {mount!r} this token can see "
                "(it does not exist, or the token's policy grants nothing under it)",
            )
        data = answer.data
        if data is None:
            raise SinkError(self.label, f"Vault at {self.address} answered {action} without data")
        options = data.get("options")
        version = options.get("version") if isinstance(options, Mapping) else None
        return str(data.get("type", "")), (str(version) if version is not None else None)

    def capabilities(self, paths: Iterable[str]) -> dict[str, set[str]]:
        """The token's capabilities on each API path: ``POST /v1/sys/capabilities-self``."""
        wanted = list(paths)
        answer = self._call(
            "POST",
            "/v1/sys/capabilities-self",
            "checking the token's capabilities",
            json_body={"paths": wanted},
        )
        source = answer.data or answer.body
        result: dict[str, set[str]] = {}
        for path in wanted:
            granted = source.get(path)
            result[path] = {str(item) for item in granted} if isinstance(granted, list) else set()
        return result

    # --------------------------------------------------------------- KV v2

    def read_metadata(self, mount: str, path: str) -> KeyMetadata | None:
        """The key's metadata, or None when no key exists: ``GET /v1/{mount}/metadata/{path}``."""
        url = api_path("/v1/{mount}/metadata/{path}", mount=mount, path=path)
        answer = self._call("GET", url, f"reading {mount}/metadata/{path}", expect=(404,))
        if answer.status == 404:
            return None
        data = answer.data
        if data is None:
            raise SinkError(
                self.label, f"Vault at {self.address} answered {mount}/metadata/{path} without data"
            )
        return KeyMetadata(
            current_version=_number(data.get("current_version")) or 0,
            custom_metadata=_strings(data.get("custom_metadata")),
            metadata_version=_number(data.get("current_metadata_version")),
        )

    def read_version(
        self, mount: str, path: str, version: int | None = None
    ) -> SecretVersion | None:
        """One version (latest when None) of the secret, or None when absent, deleted or destroyed.

        ``GET /v1/{mount}/data/{path}?version={version}`` (Vault answers 404
        for a deleted or destroyed version too).
        """
        url = api_path("/v1/{mount}/data/{path}", mount=mount, path=path)
        if version is not None:
            url += f"?version={int(version)}"
        answer = self._call("GET", url, f"reading {mount}/data/{path}", expect=(404,))
        if answer.status == 404:
            return None
        data = answer.data
        fields = data.get("data") if data is not None else None
        metadata = data.get("metadata") if data is not None else None
        if not isinstance(metadata, Mapping):
            raise SinkError(
                self.label, f"Vault at {self.address} answered {mount}/data/{path} without metadata"
            )
        return SecretVersion(
            version=_number(metadata.get("version")) or 0,
            data=dict(fields) if isinstance(fields, Mapping) else {},
            custom_metadata=_strings(metadata.get("custom_metadata")),
        )

    def write(self, mount: str, path: str, data: Mapping[str, Any], *, cas: int) -> int:
        """Write a new version with check-and-set; return its number.

        ``POST /v1/{mount}/data/{path}`` with ``options.cas``: Vault refuses
        the write (400) unless the key is still at version ``cas`` (0: absent).
        """
        action = f"writing {mount}/data/{path}"
        hide = [Secret(str(value)) for value in data.values()]
        url = api_path("/v1/{mount}/data/{path}", mount=mount, path=path)
        body = {"options": {"cas": cas}, "data": dict(data)}
        answer = self._call("POST", url, action, json_body=body, expect=(400,), hide=hide)
        if answer.status == 400:
            now = self._versions_after_refusal(mount, path)
            if now is not None and now[0] != cas:
                raise SinkError(
                    self.label,
                    f"check-and-set conflict on {mount}/{path} at Vault {self.address}: "
                    f"rotator read version {cas} but someone wrote version {now[0]} meanwhile; "
                    "nothing was written, the next push starts over",
                )
            raise self._refused(answer, action, hide)
        version = _number(answer.data.get("version")) if answer.data is not None else None
        if version is None:
            raise SinkError(
                self.label, f"Vault at {self.address} answered {action} without a version number"
            )
        return version

    def write_custom_metadata(
        self,
        mount: str,
        path: str,
        custom_metadata: Mapping[str, str],
        *,
        metadata_cas: int | None = None,
    ) -> None:
        """Replace the key's ``custom_metadata`` and nothing else.

        ``POST /v1/{mount}/metadata/{path}`` with only ``custom_metadata``
        (other metadata settings keep their values), plus OpenBao's
        ``metadata_cas`` when given.
        """
        action = f"writing {mount}/metadata/{path}"
        body: dict[str, Any] = {"custom_metadata": dict(custom_metadata)}
        if metadata_cas is not None:
            body["metadata_cas"] = metadata_cas
        url = api_path("/v1/{mount}/metadata/{path}", mount=mount, path=path)
        answer = self._call("POST", url, action, json_body=body, expect=(400,))
        if answer.status == 400:
            if metadata_cas is not None:
                now = self._versions_after_refusal(mount, path)
                if now is not None and now[1] is not None and now[1] != metadata_cas:
                    raise SinkError(
                        self.label,
                        f"check-and-set conflict on the metadata of {mount}/{path} at Vault "
                        f"{self.address}: someone changed it while rotator was marking it",
                    )
            raise self._refused(answer, action)

    def _versions_after_refusal(self, mount: str, path: str) -> tuple[int, int | None] | None:
        """(current version, metadata version) after a refused write; None if unreadable."""
        try:
            metadata = self.read_metadata(mount, path)
        except SinkError:
            return None
        if metadata is None:
            return 0, None
        return metadata.current_version, metadata.metadata_version

    # ---------------------------------------------------- calls and errors

    def _call(
        self,
        method: str,
        path: str,
        action: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        authenticated: bool = True,
        expect: Collection[int] = (),
        hide: Iterable[Secret] = (),
    ) -> Answer:
        """One request: log in first, and once more if an AppRole token expired.

        A 2xx answer, or one whose status is in ``expect``, is returned;
        anything else leaves as a :class:`SinkError`.
        """
        if authenticated and self._token is None and isinstance(self._login, AppRoleLogin):
            self._approle_login(self._login)
        answer = self._send(method, path, action, json_body, authenticated=authenticated)
        if (
            answer.status == 403
            and authenticated
            and isinstance(self._login, AppRoleLogin)
            and self._token_rejected()
        ):
            # The AppRole token expired since we logged in: log in again, once.
            log.info("vault sink %s: the AppRole token expired; logging in again", self.label)
            self._approle_login(self._login)
            answer = self._send(method, path, action, json_body)
        if 200 <= answer.status < 300 or answer.status in expect:
            return answer
        raise self._refused(answer, action, hide)
