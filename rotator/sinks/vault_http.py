"""Vault's HTTP transport and its one error map, for :mod:`rotator.sinks.vault_client`.

:class:`VaultHTTP` is the exchange the sinks share (:mod:`rotator.sinks.http`:
one total deadline and a body cap per request, never the environment, never a
redirect) with only the settings it was given (address, token, namespace
header, TLS verification or CA file), and turns every error status into one
:class:`~rotator.errors.SinkError` line naming the sink and ``host:port``:
``transient`` for no answer, 429 and 5xx (a sealed server included),
definite for the rest. Vault's own error text is quoted only after the
token, the AppRole secret_id and the values being written are scrubbed out.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from rotator.errors import SinkError
from rotator.secret import Secret
from rotator.sinks import http
from rotator.sinks.http import SinkHTTP, Wording, detail, host_port, transient_status

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER",
    "Answer",
    "AppRoleLogin",
    "TokenLogin",
    "VaultHTTP",
    "api_path",
    "host_port",
    "sealed_message",
]

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
class Answer(http.Answer):
    """Vault's answer to one request: status and JSON body (``{}`` when empty)."""

    @property
    def data(self) -> Mapping[str, Any] | None:
        data = self.body.get("data")
        return data if isinstance(data, Mapping) else None

    @property
    def errors(self) -> list[str]:
        errors = self.body.get("errors")
        return [str(error) for error in errors] if isinstance(errors, list) else []


def sealed_message(address: str) -> str:
    """The one message for a sealed server, wherever it is noticed."""
    return f"Vault at {address} is sealed (unseal it; until then the old key stays in use)"


def api_path(template: str, **parts: str) -> str:
    """``/v1/{mount}/data/{path}`` with each part stripped of slashes and URL-quoted."""
    return template.format(**{k: quote(v.strip("/"), safe="/") for k, v in parts.items()})


class VaultHTTP(SinkHTTP):
    """One Vault server as a sink sees it: explicit settings, one deadline, one error map."""

    wording = Wording(untrusted=" (set ca_cert to the CA that signed it)")

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
        super().__init__(label, url, service="Vault", timeout=timeout, max_answer=MAX_ANSWER)
        self.namespace = namespace or None
        self.verify = verify
        self._login = login
        self._token: Secret | None = login.token if isinstance(login, TokenLogin) else None
        self._hidden: list[Secret] = [
            login.token if isinstance(login, TokenLogin) else login.secret_id
        ]
        if verify is False:
            log.warning(
                "TLS certificate checks are off for Vault at %s (tls_verify = false)", self.address
            )

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

    def _verify(self) -> ssl.SSLContext | bool:
        if isinstance(self.verify, str):
            try:
                return ssl.create_default_context(cafile=self.verify)
            except (OSError, ssl.SSLError) as exc:
                raise SinkError(
                    self.label,
                    f"cannot use ca_cert {self.verify} for Vault at {self.address}: "
                    "not a readable CA file",
                ) from exc
        return self.verify is not False

    def _send(
        self,
        method: str,
        path: str,
        action: str,
        json_body: Mapping[str, Any] | None = None,
        *,
        authenticated: bool = True,
    ) -> Answer:
        """Send one request and read its answer; raises only :class:`SinkError`."""
        headers = {"X-Vault-Namespace": self.namespace} if self.namespace else {}
        if authenticated and self._token is not None:
            headers["X-Vault-Token"] = self._token.reveal()
        reply = self.exchange(method, path, action, headers=headers, json_body=json_body)
        return Answer(reply.status, reply.json(lambda text: {"errors": [text]}))

    def redirected(self, response: httpx.Response, action: str) -> str:
        location = response.headers.get("location", "")
        elsewhere = f" to {host_port(location)}" if location.startswith("http") else ""
        return (
            f"{self.where} redirected {action}{elsewhere}; rotator does not "
            "follow redirects: set url to the node that answers (the active one)"
        )

    def _refused(self, answer: Answer, action: str, hide: Iterable[Secret] = ()) -> SinkError:
        """The :class:`SinkError` for an error answer; transient for 429 and 5xx."""
        message = self.describe_status(answer.status, answer.errors, action, hide)
        return SinkError(self.label, message, transient=transient_status(answer.status))

    def describe_status(
        self, status: int, errors: Iterable[str], action: str, hide: Iterable[Secret] = ()
    ) -> str:
        """Say in one line what an error status means, with Vault's own (scrubbed) words."""
        where = self.where
        quoted = detail("; ".join(e for e in errors if e.strip()), [*self._hidden, *hide])
        if status == 503:
            if self._sealed_now():
                return sealed_message(self.address)
            return f"{where} is unavailable (503) while {action}{quoted}"
        if status == 403:
            if self._token_rejected():
                return f"{where} rejected the token (invalid, expired or revoked)"
            return (
                f"{where} denied {action} (403 permission denied): "
                "the token's policy does not allow it"
            )
        known = {
            400: f"{where} refused {action} (400){quoted}",
            401: f"{where} refused the credentials (401) while {action}{quoted}",
            404: f"{where} found nothing (404) while {action}{quoted}",
            429: f"{where} is rate limiting rotator (429) while {action}",
            501: f"{where} is not initialised (501)",
        }
        if status in known:
            return known[status]
        if status >= 500:
            return f"{where} failed ({status}) while {action}{quoted}"
        return f"{where} gave an unexpected answer ({status}) while {action}{quoted}"

    def _sealed_now(self) -> bool:
        """Seal status for an error message: ``GET /v1/sys/seal-status``; False if unknown."""
        try:
            answer = self._send("GET", "/v1/sys/seal-status", "reading the seal status")
        except SinkError:
            return False
        return answer.status == 200 and bool(answer.body.get("sealed"))
