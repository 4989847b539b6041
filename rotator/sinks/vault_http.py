"""Vault's HTTP transport and its one error map, for :mod:`rotator.sinks.vault_client`.

:class:`VaultHTTP` sends one request with only the settings it was given
(address, token, namespace header, TLS verification or CA file; never the
environment, never a redirect), reads the whole answer within one deadline
(headers included) and a size cap through :mod:`rotator.httpguard` (so the
daemon's stop request ends it too), and turns every httpx failure and every error status into one
:class:`~rotator.errors.SinkError` line naming the sink and ``host:port``:
``transient`` for no answer, 429 and 5xx (a sealed server included),
definite for the rest. Vault's own error text is quoted only after the
token, the AppRole secret_id and the values being written are scrubbed out.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from rotator import httpguard
from rotator.errors import SinkError
from rotator.secret import Secret

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds for one HTTP request to Vault
MAX_ANSWER = 1 << 20  # bytes; Vault's answers to these calls are a few kB


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
class Answer:
    """Vault's answer to one request: status and JSON body (``{}`` when empty)."""

    status: int
    body: Mapping[str, Any]

    @property
    def data(self) -> Mapping[str, Any] | None:
        data = self.body.get("data")
        return data if isinstance(data, Mapping) else None

    @property
    def errors(self) -> list[str]:
        errors = self.body.get("errors")
        return [str(error) for error in errors] if isinstance(errors, list) else []


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


def api_path(template: str, **parts: str) -> str:
    """``/v1/{mount}/data/{path}`` with each part stripped of slashes and URL-quoted."""
    return template.format(**{k: quote(v.strip("/"), safe="/") for k, v in parts.items()})


def _tls_failure(exc: BaseException) -> bool:
    """Whether an httpx error came from the TLS handshake (httpx chains the ssl error)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class VaultHTTP:
    """One Vault server as a sink sees it: explicit settings, one deadline, one error map."""

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
        self._token: Secret | None = login.token if isinstance(login, TokenLogin) else None
        self._hidden: list[Secret] = [
            login.token if isinstance(login, TokenLogin) else login.secret_id
        ]
        self._http: httpx.Client | None = None
        if verify is False:
            log.warning(
                "TLS certificate checks are off for Vault at %s (tls_verify = false)", self.address
            )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def _token_rejected(self) -> bool:
        """Whether Vault rejects the token itself (not just this path).

        ``GET /v1/auth/token/lookup-self``: Vault answers 403 for a bad token
        just as for a missing policy, and lookup-self (in the default policy)
        tells the two apart.
        """
        if self._token is None:
            return False
        try:
            answer = self._send("GET", "/v1/auth/token/lookup-self", "looking up its own token")
        except SinkError:
            return False
        return answer.status in (401, 403)

    def _client(self) -> httpx.Client:
        if self._http is None:
            verify: ssl.SSLContext | bool = self.verify is not False
            if isinstance(self.verify, str):
                try:
                    verify = ssl.create_default_context(cafile=self.verify)
                except (OSError, ssl.SSLError) as exc:
                    raise SinkError(
                        self.label,
                        f"cannot use ca_cert {self.verify} for Vault at {self.address}: "
                        "not a readable CA file",
                    ) from exc
            headers = {"X-Vault-Namespace": self.namespace} if self.namespace else {}
            self._http = httpx.Client(
                base_url=self.url,
                headers=headers,
                transport=httpguard.GuardedTransport(verify=verify),
                timeout=self.timeout,
                follow_redirects=False,
                trust_env=False,
            )
        return self._http

    def _send(
        self,
        method: str,
        path: str,
        action: str,
        json_body: Mapping[str, Any] | None = None,
        *,
        authenticated: bool = True,
    ) -> Answer:
        """Send one request and read its answer; raises only :class:`SinkError`.

        The whole answer, headers and body, must be in ``timeout`` seconds after
        the request started and within :data:`MAX_ANSWER` bytes: a server
        trickling bytes cannot hold the request open. A stop request (a
        *cancelled* deadline around the call, :func:`rotator.httpguard.bounded`)
        ends it at once.
        """
        headers = {}
        if authenticated and self._token is not None:
            headers["X-Vault-Token"] = self._token.reveal()
        content = json.dumps(json_body).encode() if json_body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        client = self._client()
        request = client.build_request(method, path, content=content, headers=headers)
        try:
            response = httpguard.fetch(
                client,
                request,
                deadline=httpguard.Deadline(self.timeout),
                max_body=MAX_ANSWER,
                timeout=self.timeout,
            )
        except httpguard.BodyTooLarge as exc:
            raise SinkError(
                self.label, f"Vault at {self.address} answered {action} at length"
            ) from exc
        except httpx.HTTPError as exc:
            raise SinkError(
                self.label, self.describe_transport(exc, action), transient=not _tls_failure(exc)
            ) from exc
        status, location = response.status_code, response.headers.get("location", "")
        raw = response.content
        if 300 <= status < 400:
            elsewhere = f" to {host_port(location)}" if location.startswith("http") else ""
            raise SinkError(
                self.label,
                f"Vault at {self.address} redirected {action}{elsewhere}; rotator does not "
                "follow redirects: set url to the node that answers (the active one)",
            )
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = {"errors": [raw[:200].decode("utf-8", "replace")]}
        return Answer(status, body if isinstance(body, Mapping) else {})

    def _refused(self, answer: Answer, action: str, hide: Iterable[Secret] = ()) -> SinkError:
        """The :class:`SinkError` for an error answer; transient for 429 and 5xx."""
        message = self.describe_status(answer.status, answer.errors, action, hide)
        return SinkError(
            self.label, message, transient=answer.status == 429 or answer.status >= 500
        )

    def _scrub(self, text: str, hide: Iterable[Secret] = ()) -> str:
        for secret in [*self._hidden, *hide]:
            value = secret.reveal()
            if value:
                text = text.replace(value, "[redacted]")
        return text

    def describe_transport(self, exc: httpx.HTTPError, action: str) -> str:
        """Say in one line why no answer came back, naming the server but never a secret."""
        where = f"Vault at {self.address}"
        if _tls_failure(exc):
            return (
                f"TLS with {where} failed while {action}: its certificate is not trusted "
                "(set ca_cert to the CA that signed it)"
            )
        if isinstance(exc, httpguard.Cancelled):
            return f"gave up on {where} while {action}: rotator is stopping"
        if isinstance(exc, httpx.TimeoutException):
            return f"{where} did not answer within {self.timeout:g}s while {action}"
        if isinstance(exc, httpx.ConnectError):
            return (
                f"cannot reach {where} while {action} "
                "(connection refused, host unknown or network down)"
            )
        return f"request to {where} failed while {action} ({type(exc).__name__})"

    def describe_status(
        self, status: int, errors: Iterable[str], action: str, hide: Iterable[Secret] = ()
    ) -> str:
        """Say in one line what an error status means, with Vault's own (scrubbed) words."""
        where = f"Vault at {self.address}"
        says = self._scrub("; ".join(" ".join(e.split()) for e in errors if e.strip()), hide)
        detail = f": {says[:300]}" if says else ""
        if status == 503:
            if self._sealed_now():
                return sealed_message(self.address)
            return f"{where} is unavailable (503) while {action}{detail}"
        if status == 403:
            if self._token_rejected():
                return f"{where} rejected the token (invalid, expired or revoked)"
            return (
                f"{where} denied {action} (403 permission denied): "
                "the token's policy does not allow it"
            )
        known = {
            400: f"{where} refused {action} (400){detail}",
            401: f"{where} refused the credentials (401) while {action}{detail}",
            404: f"{where} found nothing (404) while {action}{detail}",
            429: f"{where} is rate limiting rotator (429) while {action}",
            501: f"{where} is not initialised (501)",
        }
        if status in known:
            return known[status]
        if status >= 500:
            return f"{where} failed ({status}) while {action}{detail}"
        return f"{where} gave an unexpected answer ({status}) while {action}{detail}"

    def _sealed_now(self) -> bool:
        """Seal status for an error message: ``GET /v1/sys/seal-status``; False if unknown."""
        try:
            answer = self._send("GET", "/v1/sys/seal-status", "reading the seal status")
        except SinkError:
            return False
        return answer.status == 200 and bool(answer.body.get("sealed"))
