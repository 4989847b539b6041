"""A fake GitHub REST API for Actions secrets: a loopback HTTP server with real keys.

It serves what the ``github_actions`` sink calls, for repository,
environment and organisation targets::

    GET  /repos/{owner}/{repo}/actions/secrets/public-key
    GET  /repos/{owner}/{repo}/actions/secrets/{secret_name}
    PUT  /repos/{owner}/{repo}/actions/secrets/{secret_name}
    GET  /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key
    GET|PUT /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}
    GET  /orgs/{org}/actions/secrets/public-key
    GET|PUT /orgs/{org}/actions/secrets/{secret_name}

Each target holds a real X25519 key pair (PyNaCl). A PUT is *decrypted* with
the private key: a value sealed for another key, or sent with a ``key_id``
that is not the target's current one, is refused with 422 as GitHub does.
The plaintext is kept for the tests' assertions (:meth:`FakeGitHub.value`).
Tokens carry a permission (``write``, ``read`` or none) and the targets they
reach: no token or an unknown one answers 401, a token without the
permission 403, an unknown target 404. Answers follow GitHub's published
OpenAPI description (``tests/spec/github/``), which the tests check.

Faults: :meth:`FakeGitHub.rotate_key_before_next_put` (GitHub rotates the
target's key between the sink's GET and PUT), :attr:`FakeGitHub.fail_next`
(statuses to answer instead of serving), :attr:`FakeGitHub.fail_puts`
(likewise, for PUTs only), :attr:`FakeGitHub.drop_writes`
(answer 204 and store nothing), and :meth:`FakeGitHub.stop` /
:meth:`FakeGitHub.start` (unreachable, then back on the same port).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

BASE64 = re.compile(
    r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
)
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ROUTES = [
    ("repository", re.compile(r"^/repos/([^/]+)/([^/]+)/actions/secrets/([^/]+)$")),
    ("environment", re.compile(r"^/repos/([^/]+)/([^/]+)/environments/([^/]+)/secrets/([^/]+)$")),
    ("organization", re.compile(r"^/orgs/([^/]+)/actions/secrets/([^/]+)$")),
]
DOCS = "https://docs.github.com/rest/actions/secrets"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StoredSecret:
    """One secret as GitHub keeps it (the fake also keeps the plaintext, for assertions)."""

    value: str
    created_at: datetime
    updated_at: datetime
    key_id: str
    visibility: str | None = None
    selected_repository_ids: list[int] | None = None


@dataclass
class Target:
    """A repository, an environment or an organisation, with its own key pair."""

    kind: str
    key: str  # "acme/app", "acme/app@production", "org:acme" (lowercased names)
    private_key: PrivateKey = field(default_factory=PrivateKey.generate)
    key_id: str = field(default_factory=lambda: str(secrets.randbelow(10**18)))
    secrets: dict[str, StoredSecret] = field(default_factory=dict)
    keys_used: int = 1

    def rotate_key(self) -> None:
        """A new key pair and key id, as when GitHub rotates a target's key."""
        self.private_key = PrivateKey.generate()
        self.key_id = str(secrets.randbelow(10**18))
        self.keys_used += 1

    @property
    def public_key(self) -> str:
        return base64.b64encode(bytes(self.private_key.public_key)).decode()


@dataclass
class Token:
    permission: str | None  # "write", "read" or None
    targets: set[str] | None  # target keys it reaches; None: every target


@dataclass
class Recorded:
    """One exchange as the fake saw it: the raw request and its answer."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    answer: bytes
    answer_headers: dict[str, str]

    def text(self) -> str:
        """Everything the request carried, as one string (for canary checks)."""
        heads = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}\n{heads}\n{self.body.decode('utf-8', 'replace')}"


class FakeGitHub:
    """The fake API server. ``start()`` listens on 127.0.0.1; ``url`` is its base."""

    def __init__(self, now: Callable[[], datetime] = _now) -> None:
        self.now = now
        self.targets: dict[str, Target] = {}
        self.tokens: dict[str, Token] = {}
        self.requests: list[Recorded] = []
        self.fail_next: list[int] = []
        self.fail_puts: list[int] = []
        self.drop_writes = False
        self.rate_limit_next = False  # answer the next request 403 with the limit spent
        self._rotate_before_put: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------- control

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._handle(self)

            def do_PUT(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def do_DELETE(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def add_repository(self, repository: str) -> Target:
        return self._add("repository", repository.lower())

    def add_environment(self, repository: str, environment: str) -> Target:
        return self._add("environment", f"{repository.lower()}@{environment}")

    def add_organization(self, organization: str) -> Target:
        return self._add("organization", f"org:{organization.lower()}")

    def _add(self, kind: str, key: str) -> Target:
        with self._lock:
            return self.targets.setdefault(key, Target(kind, key))

    def add_token(self, permission: str | None = "write", targets: list[str] | None = None) -> str:
        """A new token (shaped like a fine-grained PAT) with ``permission`` on ``targets``."""
        token = "github_pat_" + secrets.token_hex(20)
        reach = {t.lower() for t in targets} if targets is not None else None
        self.tokens[token] = Token(permission, reach)
        return token

    def rotate_key_before_next_put(self, target: str) -> None:
        """GitHub rotates ``target``'s key just before it handles the next PUT there."""
        self._rotate_before_put.add(target.lower())

    def value(self, target: str, name: str) -> str | None:
        """The plaintext GitHub would hold for secret ``name`` of ``target``."""
        stored = self.targets[target.lower()].secrets.get(name.upper())
        return stored.value if stored else None

    def stored(self, target: str, name: str) -> StoredSecret | None:
        return self.targets[target.lower()].secrets.get(name.upper())

    # ------------------------------------------------------------ serving

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        remaining = "4999"
        if self.rate_limit_next:
            self.rate_limit_next, remaining = False, "0"
            status, answer = 403, _error(403, "API rate limit exceeded for user ID 1.")
        else:
            status, answer = self._serve(handler.command, handler.path, dict(handler.headers), body)
        content = json.dumps(answer).encode() if answer is not None else b""
        headers = {
            "Date": format_datetime(self.now(), usegmt=True),
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": secrets.token_hex(8).upper(),
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": remaining,
            "Content-Length": str(len(content)),
        }
        if answer is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        with self._lock:
            self.requests.append(
                Recorded(
                    handler.command,
                    handler.path,
                    dict(handler.headers),
                    body,
                    status,
                    content,
                    headers,
                )
            )
        handler.send_response_only(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(content)

    def _serve(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if self.fail_next:
            status = self.fail_next.pop(0)
            return status, _error(status, "Server Error" if status >= 500 else "Failed")
        path = urlsplit(raw_path).path
        route = _route(path)
        if route is None or method not in ("GET", "PUT"):
            return 404, _error(404, "Not Found")
        target_key, name = route
        authorization = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        scheme, _, token_text = authorization.partition(" ")
        token = self.tokens.get(token_text) if scheme.lower() in ("bearer", "token") else None
        if token is None:
            return 401, _error(401, "Bad credentials")
        target = self.targets.get(target_key)
        if target is None:
            return 404, _error(404, "Not Found")
        needed = ("write",) if method == "PUT" else ("read", "write")
        if token.permission not in needed or (
            token.targets is not None and target_key not in token.targets
        ):
            return 403, _error(403, "Resource not accessible by personal access token")
        if name == "public-key":
            if method != "GET":
                return 404, _error(404, "Not Found")
            return 200, {"key_id": target.key_id, "key": target.public_key}
        if method == "GET":
            return self._read(target, name)
        return self._write(target, name, body)

    def _read(self, target: Target, name: str) -> tuple[int, Any]:
        stored = target.secrets.get(name.upper())
        if stored is None:
            return 404, _error(404, "Not Found")
        answer: dict[str, Any] = {
            "name": name.upper(),
            "created_at": iso(stored.created_at),
            "updated_at": iso(stored.updated_at),
        }
        if target.kind == "organization":
            answer["visibility"] = stored.visibility
            if stored.visibility == "selected":
                org = target.key.removeprefix("org:")
                answer["selected_repositories_url"] = (
                    f"https://api.github.com/orgs/{org}/actions/secrets/{name.upper()}/repositories"
                )
        return 200, answer

    def _write(self, target: Target, name: str, body: bytes) -> tuple[int, Any]:
        if self.fail_puts:
            status = self.fail_puts.pop(0)
            return status, _error(status, "Invalid request. The request was refused.")
        if target.key in self._rotate_before_put:
            self._rotate_before_put.discard(target.key)
            target.rotate_key()
        if not SECRET_NAME.match(name) or name.upper().startswith("GITHUB_"):
            return 422, _error(422, "Invalid secret name")
        try:
            document = json.loads(body)
        except ValueError:
            return 400, _error(400, "Problems parsing JSON")
        if not isinstance(document, dict):
            return 400, _error(400, "Problems parsing JSON")
        encrypted, key_id = document.get("encrypted_value"), document.get("key_id")
        if not isinstance(encrypted, str) or not isinstance(key_id, str):
            return 422, _error(422, "Invalid request. encrypted_value and key_id are required.")
        if not BASE64.match(encrypted):
            return 422, _error(422, "Invalid request. encrypted_value is not valid base64.")
        if key_id != target.key_id:
            return 422, _error(422, "Invalid request. key_id does not match the current key.")
        visibility = document.get("visibility")
        selected = document.get("selected_repository_ids")
        if target.kind == "organization":
            if visibility not in ("all", "private", "selected"):
                return 422, _error(422, "Invalid request. visibility is required.")
            if (visibility == "selected") != (selected is not None):
                return 422, _error(422, "Invalid request. selected_repository_ids.")
        try:
            plaintext = SealedBox(target.private_key).decrypt(base64.b64decode(encrypted))
            value = plaintext.decode("utf-8")
        except (CryptoError, binascii.Error, UnicodeDecodeError):
            return 422, _error(422, "Invalid request. encrypted_value could not be decrypted.")
        if self.drop_writes:
            return 204, None
        moment = self.now()
        previous = target.secrets.get(name.upper())
        target.secrets[name.upper()] = StoredSecret(
            value,
            previous.created_at if previous else moment,
            moment,
            key_id,
            visibility if isinstance(visibility, str) else None,
            selected if isinstance(selected, list) else None,
        )
        return (204, None) if previous else (201, {})


def _route(path: str) -> tuple[str, str] | None:
    """``(target key, secret name or "public-key")`` for a secrets path, else None."""
    for kind, pattern in ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        parts = [unquote(part) for part in match.groups()]
        if kind == "repository":
            return f"{parts[0]}/{parts[1]}".lower(), parts[2]
        if kind == "environment":
            return f"{parts[0]}/{parts[1]}".lower() + f"@{parts[2]}", parts[3]
        return f"org:{parts[0]}".lower(), parts[1]
    return None


def _error(status: int, message: str) -> dict[str, str]:
    """GitHub's error body (``basic-error``)."""
    return {"message": message, "documentation_url": DOCS, "status": str(status)}
