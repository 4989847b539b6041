"""The handful of Vault HTTP calls the Vault sink makes, through hvac, errors translated.

Only this module and :mod:`rotator.sinks.vault` import hvac. Everything the
connection needs is passed in explicitly: hvac's ``Client`` is never built,
because it falls back to ``VAULT_ADDR``, ``VAULT_TOKEN``, ``~/.vault-token``
and ``VAULT_CACERT``/``VAULT_CLIENT_CERT`` (read at import time); and the
``requests`` session does not trust the environment, so ``HTTPS_PROXY``,
``REQUESTS_CA_BUNDLE`` and ``~/.netrc`` cannot change where the token goes or
which CA vouches for the server.

Every hvac or requests exception leaves this module as a
:class:`~rotator.errors.SinkError` naming the sink and the server's
``host:port``. Messages never hold the token, the AppRole secret_id or any
value being written: Vault's own error text is scrubbed of them before use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import hvac.adapters
import hvac.exceptions
import requests
from hvac.api.auth_methods import AppRole
from hvac.api.secrets_engines import KvV2
from hvac.utils import format_url

from rotator.errors import SinkError
from rotator.secret import Secret

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds for one HTTP request to Vault
_T = TypeVar("_T")
# What a call through hvac can raise: Vault's answers, and transport trouble
# (requests' exceptions are OSErrors, as is an unreadable ca_cert file).
_FAILURES = (hvac.exceptions.VaultError, OSError)

# hvac's exceptions do not keep the status; say it in messages all the same.
_STATUS = {
    hvac.exceptions.InvalidRequest: 400,
    hvac.exceptions.Unauthorized: 401,
    hvac.exceptions.Forbidden: 403,
    hvac.exceptions.InvalidPath: 404,
    hvac.exceptions.RateLimitExceeded: 429,
    hvac.exceptions.InternalServerError: 500,
    hvac.exceptions.VaultNotInitialized: 501,
    hvac.exceptions.BadGateway: 502,
    hvac.exceptions.VaultDown: 503,
}


@dataclass(frozen=True)
class TokenLogin:
    """Authenticate with a fixed Vault token."""

    token: Secret


@dataclass(frozen=True)
class AppRoleLogin:
    """Authenticate with AppRole: ``POST /v1/auth/{mount}/login``."""

    role_id: str
    secret_id: Secret
    mount: str = "approle"


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


def host_port(url: str) -> str:
    """``https://vault.example:8200/`` → ``vault.example:8200`` (the default port spelled out)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or url
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def sealed_message(address: str) -> str:
    """The one message for a sealed server, wherever it is noticed."""
    return f"Vault at {address} is sealed (unseal it; until then the old key stays in use)"


def _strings(value: object) -> dict[str, str]:
    """A ``custom_metadata`` map (Vault answers null when there is none)."""
    if not isinstance(value, Mapping):
        return {}
    return {str(key): str(item) for key, item in value.items()}


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class VaultClient:
    """A Vault (or OpenBao) connection for one sink: explicit settings, translated errors."""

    def __init__(
        self,
        label: str,
        url: str,
        login: TokenLogin | AppRoleLogin,
        *,
        namespace: str | None = None,
        verify: bool | str = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.label = label
        self.url = url.rstrip("/")
        self.address = host_port(self.url)
        self.namespace = namespace or None
        self.timeout = timeout
        self.verify = verify
        self._login = login
        self._logged_in = False
        self._hidden: list[Secret] = []
        if isinstance(login, TokenLogin):
            self._hidden.append(login.token)
        else:
            self._hidden.append(login.secret_id)
        if verify is False:
            log.warning(
                "TLS certificate checks are off for Vault at %s (tls_verify = false)", self.address
            )
        session = requests.Session()
        # No proxy, CA bundle or netrc from the environment: only what we pass.
        session.trust_env = False
        session.proxies = {}
        # hvac prefers a session's own truthy `verify` over its argument, so
        # the session must carry the operator's choice too.
        session.verify = verify
        self._adapter = hvac.adapters.JSONAdapter(
            base_uri=self.url,
            token=None,
            cert=None,
            verify=verify,
            timeout=timeout,
            proxies={},
            # A redirect could carry the token to a host nobody configured.
            allow_redirects=False,
            session=session,
            namespace=self.namespace,
        )
        self._kv = KvV2(adapter=self._adapter)

    def close(self) -> None:
        """Close the HTTP session (and its pooled connections)."""
        self._adapter.close()

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
        self._ensure_token()
        self._call(
            "looking up its own token",
            lambda: self._adapter.get("/v1/auth/token/lookup-self"),
        )

    def _ensure_token(self) -> None:
        if self._logged_in:
            return
        if isinstance(self._login, TokenLogin):
            self._adapter.token = self._login.token.reveal()
            self._logged_in = True
        else:
            self._approle_login(self._login)

    def _approle_login(self, login: AppRoleLogin) -> None:
        """``POST /v1/auth/{mount}/login`` with role_id and secret_id; keep the client token."""
        self._adapter.token = None
        mount = login.mount.strip("/")
        try:
            AppRole(adapter=self._adapter).login(
                role_id=login.role_id,
                secret_id=login.secret_id.reveal(),
                mount_point=mount,
            )
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.Unauthorized) as exc:
            raise SinkError(
                self.label,
                f"Vault at {self.address} refused the AppRole login at auth/{mount} "
                "(role_id or secret_id wrong, or the secret_id expired or was used up)",
            ) from exc
        except hvac.exceptions.Forbidden as exc:
            # No token is involved yet: a 403 here means no such auth mount.
            raise SinkError(
                self.label,
                f"Vault at {self.address} refused the AppRole login at auth/{mount} "
                "(403: is AppRole enabled at that mount, in this namespace?)",
            ) from exc
        except _FAILURES as exc:
            raise self._translate(exc, f"logging in with AppRole at auth/{mount}") from exc
        except (KeyError, TypeError) as exc:
            raise SinkError(
                self.label, f"Vault at {self.address} answered the AppRole login without a token"
            ) from exc
        token = self._adapter.token
        if isinstance(token, str) and token:
            self._hidden.append(Secret(token))
        self._logged_in = True

    # ------------------------------------------------------------ system

    def is_sealed(self) -> bool:
        """Whether the server is sealed: ``GET /v1/sys/seal-status`` (unauthenticated)."""
        answer = self._call(
            "reading the seal status",
            lambda: self._adapter.get("/v1/sys/seal-status"),
            authenticated=False,
        )
        return bool(answer.get("sealed")) if isinstance(answer, Mapping) else False

    def mount_kind(self, mount: str) -> tuple[str, str | None]:
        """The engine type and KV version of ``mount``.

        ``GET /v1/sys/internal/ui/mounts/{mount}``: the preflight the Vault
        CLI uses, allowed for any token that has a capability under the mount
        (``sys/mounts`` would need more). Vault answers 403 both for a
        missing mount and for one the token may not see.
        """
        mount = mount.strip("/")
        action = f"looking up the mount {mount}"
        url = format_url("/v1/sys/internal/ui/mounts/{mount}", mount=mount)
        try:
            answer = self._call(action, lambda: self._adapter.get(url), translate=False)
        except hvac.exceptions.Forbidden as exc:
            if self._token_rejected():
                raise self._translate(exc, action) from exc
            raise SinkError(
                self.label,
                f"Vault at {self.address} has no mount {mount!r} this token can see "
                "(it does not exist, or the token's policy grants nothing under it)",
            ) from exc
        except _FAILURES as exc:
            raise self._translate(exc, action) from exc
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, Mapping):
            raise SinkError(self.label, f"Vault at {self.address} answered {action} without data")
        options = data.get("options")
        version = options.get("version") if isinstance(options, Mapping) else None
        return str(data.get("type", "")), (str(version) if version is not None else None)

    def capabilities(self, paths: Iterable[str]) -> dict[str, set[str]]:
        """The token's capabilities on each API path: ``POST /v1/sys/capabilities-self``."""
        wanted = list(paths)
        answer = self._call(
            "checking the token's capabilities",
            lambda: self._adapter.post("/v1/sys/capabilities-self", json={"paths": wanted}),
        )
        data = answer.get("data") if isinstance(answer, Mapping) else None
        source = data if isinstance(data, Mapping) else answer
        result: dict[str, set[str]] = {}
        for path in wanted:
            granted = source.get(path) if isinstance(source, Mapping) else None
            result[path] = {str(item) for item in granted} if isinstance(granted, list) else set()
        return result

    # --------------------------------------------------------------- KV v2

    def read_metadata(self, mount: str, path: str) -> KeyMetadata | None:
        """The key's metadata, or None when no key exists: ``GET /v1/{mount}/metadata/{path}``."""
        try:
            answer = self._call(
                f"reading {mount}/metadata/{path}",
                lambda: self._kv.read_secret_metadata(path=path, mount_point=mount),
                missing_ok=True,
            )
        except _Missing:
            return None
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, Mapping):
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

        ``GET /v1/{mount}/data/{path}?version={version}``
        """
        try:
            answer = self._call(
                f"reading {mount}/data/{path}",
                lambda: self._kv.read_secret_version(
                    path=path, version=version, mount_point=mount, raise_on_deleted_version=True
                ),
                missing_ok=True,
            )
        except _Missing:
            return None
        data = answer.get("data") if isinstance(answer, Mapping) else None
        fields = data.get("data") if isinstance(data, Mapping) else None
        metadata = data.get("metadata") if isinstance(data, Mapping) else None
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
        the write unless the key is still at version ``cas`` (0: absent).
        """
        action = f"writing {mount}/data/{path}"
        hide = [Secret(str(value)) for value in data.values()]
        try:
            answer = self._call(
                action,
                lambda: self._kv.create_or_update_secret(
                    path=path, secret=dict(data), cas=cas, mount_point=mount
                ),
                hide=hide,
                translate=False,
            )
        except hvac.exceptions.InvalidRequest as exc:
            now = self._version_after_refusal(mount, path)
            if now is not None and now != cas:
                raise SinkError(
                    self.label,
                    f"check-and-set conflict on {mount}/{path} at Vault {self.address}: "
                    f"rotator read version {cas} but someone wrote version {now} meanwhile; "
                    "nothing was written, the next push starts over",
                ) from exc
            raise self._translate(exc, action, hide) from exc
        except _FAILURES as exc:
            raise self._translate(exc, action, hide) from exc
        written = answer.get("data") if isinstance(answer, Mapping) else None
        version = _number(written.get("version")) if isinstance(written, Mapping) else None
        if version is None:
            raise SinkError(
                self.label, f"Vault at {self.address} answered {action} without a version number"
            )
        return version

    def _version_after_refusal(self, mount: str, path: str) -> int | None:
        """The key's current version after a refused write, or None if it cannot be read."""
        try:
            metadata = self.read_metadata(mount, path)
        except SinkError:
            return None
        return metadata.current_version if metadata is not None else 0

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
        (hvac's ``update_metadata`` would also reset ``delete_version_after``),
        plus OpenBao's ``metadata_cas`` when given.
        """
        action = f"writing {mount}/metadata/{path}"
        body: dict[str, Any] = {"custom_metadata": dict(custom_metadata)}
        if metadata_cas is not None:
            body["metadata_cas"] = metadata_cas
        url = format_url("/v1/{mount}/metadata/{path}", mount=mount, path=path)
        try:
            self._call(action, lambda: self._adapter.post(url, json=body), translate=False)
        except hvac.exceptions.InvalidRequest as exc:
            if metadata_cas is not None:
                current = self._metadata_version_after_refusal(mount, path)
                if current is not None and current != metadata_cas:
                    raise SinkError(
                        self.label,
                        f"check-and-set conflict on the metadata of {mount}/{path} at Vault "
                        f"{self.address}: someone changed it while rotator was marking it",
                    ) from exc
            raise self._translate(exc, action) from exc
        except _FAILURES as exc:
            raise self._translate(exc, action) from exc

    def _metadata_version_after_refusal(self, mount: str, path: str) -> int | None:
        try:
            metadata = self.read_metadata(mount, path)
        except SinkError:
            return None
        return metadata.metadata_version if metadata is not None else None

    # ---------------------------------------------------- calls and errors

    def _call(
        self,
        action: str,
        request: Callable[[], _T],
        *,
        authenticated: bool = True,
        missing_ok: bool = False,
        translate: bool = True,
        hide: Iterable[Secret] = (),
    ) -> _T:
        """Run one hvac call; log in first, and once more if an AppRole token expired.

        ``missing_ok`` turns a 404 into :class:`_Missing`; ``translate=False``
        leaves hvac's exception to the caller, which knows more about it.
        """
        if authenticated:
            self._ensure_token()
        try:
            try:
                answer = request()
            except hvac.exceptions.Forbidden:
                if not (isinstance(self._login, AppRoleLogin) and self._token_rejected()):
                    raise
                # The AppRole token expired since we logged in: log in again, once.
                log.info("vault sink %s: the AppRole token expired; logging in again", self.label)
                self._logged_in = False
                self._ensure_token()
                answer = request()
        except hvac.exceptions.InvalidPath as exc:
            if missing_ok:
                raise _Missing from exc
            if not translate:
                raise
            raise self._translate(exc, action, hide) from exc
        except _FAILURES as exc:
            if not translate:
                raise
            raise self._translate(exc, action, hide) from exc
        if isinstance(answer, requests.Response) and answer.is_redirect:
            # hvac counts a 3xx as success; we do not follow it (see __init__).
            target = answer.headers.get("Location", "")
            elsewhere = f" to {host_port(target)}" if target.startswith("http") else ""
            raise SinkError(
                self.label,
                f"Vault at {self.address} redirected {action}{elsewhere}; rotator does not "
                "follow redirects: set url to the node that answers (the active one)",
            )
        return answer

    def _token_rejected(self) -> bool:
        """Whether Vault rejects the token itself (not just this path).

        ``GET /v1/auth/token/lookup-self``: Vault answers 403 for a bad token
        just as for a missing policy, and lookup-self (in the default policy)
        tells the two apart.
        """
        if not self._adapter.token:
            return False
        try:
            response = self._adapter.get("/v1/auth/token/lookup-self", raise_exception=False)
        except _FAILURES:
            return False
        status = getattr(response, "status_code", 200)
        return status in (401, 403)

    def _sealed_now(self) -> bool | None:
        """Seal status for an error message: ``GET /v1/sys/seal-status``; None if unknown."""
        try:
            answer = self._adapter.get("/v1/sys/seal-status")
        except _FAILURES:
            return None
        return bool(answer.get("sealed")) if isinstance(answer, Mapping) else None

    def _scrub(self, text: str, hide: Iterable[Secret] = ()) -> str:
        for secret in [*self._hidden, *hide]:
            value = secret.reveal()
            if value:
                text = text.replace(value, "[redacted]")
        return text

    def _vault_says(self, exc: hvac.exceptions.VaultError, hide: Iterable[Secret]) -> str:
        errors = exc.errors if isinstance(exc.errors, list) else []
        text = "; ".join(" ".join(str(error).split()) for error in errors if str(error).strip())
        if not text and exc.args and isinstance(exc.args[0], str):
            text = " ".join(exc.args[0].split())[:200]
        return self._scrub(text, hide)

    def _translate(self, exc: Exception, action: str, hide: Iterable[Secret] = ()) -> SinkError:
        """The one-line :class:`SinkError` for an hvac or requests exception."""
        return SinkError(self.label, self.describe_failure(exc, action, hide))

    def describe_failure(self, exc: Exception, action: str, hide: Iterable[Secret] = ()) -> str:
        """Say what went wrong in one line, naming the server but never a secret."""
        where = f"Vault at {self.address}"
        if isinstance(exc, requests.exceptions.SSLError):
            return (
                f"TLS with {where} failed while {action}: its certificate is not trusted "
                "(set ca_cert to the CA that signed it)"
            )
        if isinstance(exc, requests.exceptions.Timeout):
            return f"{where} did not answer within {self.timeout:g}s while {action}"
        if isinstance(exc, requests.exceptions.ConnectionError):
            return (
                f"cannot reach {where} while {action} "
                "(connection refused, host unknown or network down)"
            )
        if isinstance(exc, requests.RequestException):
            return f"request to {where} failed while {action} ({type(exc).__name__})"
        if isinstance(exc, OSError):
            if isinstance(self.verify, str):
                return f"cannot use ca_cert {self.verify} for {where}: not a readable CA file"
            return f"cannot talk to {where} while {action} ({type(exc).__name__})"
        if not isinstance(exc, hvac.exceptions.VaultError):
            return f"{where}: {action} failed ({type(exc).__name__})"
        says = self._vault_says(exc, hide)
        detail = f": {says}" if says else ""
        if isinstance(exc, hvac.exceptions.VaultDown):
            if self._sealed_now():
                return sealed_message(self.address)
            return f"{where} is unavailable (503) while {action}{detail}"
        if isinstance(exc, hvac.exceptions.Forbidden):
            if self._token_rejected():
                return f"{where} rejected the token (invalid, expired or revoked)"
            return (
                f"{where} denied {action} (403 permission denied): "
                "the token's policy does not allow it"
            )
        if isinstance(exc, hvac.exceptions.Unauthorized):
            return f"{where} refused the credentials (401) while {action}{detail}"
        if isinstance(exc, hvac.exceptions.InvalidPath):
            return f"{where} found nothing (404) while {action}{detail}"
        if isinstance(exc, hvac.exceptions.RateLimitExceeded):
            return f"{where} is rate limiting rotator (429) while {action}"
        if isinstance(exc, hvac.exceptions.VaultNotInitialized):
            return f"{where} is not initialised (501)"
        if isinstance(exc, hvac.exceptions.InvalidRequest):
            return f"{where} refused {action} (400){detail}"
        status = _STATUS.get(type(exc))
        if status is None:
            return f"{where} gave an unexpected answer while {action}{detail}"
        return f"{where} failed ({status}) while {action}{detail}"


class _Missing(Exception):
    """A 404 the caller asked to see as "nothing there"."""
