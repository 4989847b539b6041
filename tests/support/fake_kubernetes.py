"""A faithful fake Kubernetes API server, for the kubernetes sink's tests.

No real API server can run here, so this one serves the few endpoints the
sink uses over loopback HTTPS (a CA generated per server with
``cryptography``, so rotator's TLS verification is exercised), with:

- bearer-token authentication (401 for an unknown token) and RBAC-style
  authorisation: each token holds a list of ``PolicyRule`` dicts
  (``apiGroups``, ``resources``, ``verbs``, ``resourceNames``), the same
  shape as a Role's rules, so ``deploy/kubernetes/rbac.yaml`` can be loaded
  as is; 403 answers carry the API server's own wording;
- Secrets with base64 ``data``, a ``resourceVersion`` that moves on every
  write, JSON merge / strategic merge patches, 409 when a patch names a stale
  ``resourceVersion`` or a create meets an existing object, and
  ``managedFields`` recorded per field manager;
- Deployments and StatefulSets whose pod-template change bumps
  ``metadata.generation`` and starts a simulated rollout that completes over
  a few reads (``rollout_steps``), never completes (``stuck``) or fails with
  ``ProgressDeadlineExceeded`` (``deadline``);
- ``SelfSubjectAccessReview`` answered from the same rules.

Every answer and every request body that is a whole object is validated
against the official Kubernetes schemas kept in
``tests/spec/kubernetes/definitions.json``; a mismatch is recorded in
:attr:`FakeKubernetes.violations` (tests assert it stays empty) and a bad
request is answered 422 as a real server would.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import ipaddress
import json
import re
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEFINITIONS = Path(__file__).resolve().parent.parent / "spec" / "kubernetes" / "definitions.json"
KINDS = {
    "Secret": "io.k8s.api.core.v1.Secret",
    "Deployment": "io.k8s.api.apps.v1.Deployment",
    "StatefulSet": "io.k8s.api.apps.v1.StatefulSet",
    "SelfSubjectAccessReview": "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
    "Status": "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "ServiceAccount": "io.k8s.api.core.v1.ServiceAccount",
    "Role": "io.k8s.api.rbac.v1.Role",
    "RoleBinding": "io.k8s.api.rbac.v1.RoleBinding",
}
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
ALL_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
ALLOW_ALL = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Schemas:
    """The official object schemas, one validator per kind."""

    def __init__(self, path: Path = DEFINITIONS) -> None:
        self.document = json.loads(path.read_text())
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}

    def errors(self, kind: str, body: Any) -> list[str]:
        """Every way ``body`` breaks the schema of ``kind`` (empty: valid)."""
        validator = self._validators.get(kind)
        if validator is None:
            schema = {**self.document, "$ref": f"#/$defs/{KINDS[kind]}"}
            validator = self._validators[kind] = jsonschema.Draft202012Validator(schema)
        return [
            f"{kind} {'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(body)
        ]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (strategic merge patch agrees on plain maps)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass
class Seen:
    """One request the fake received."""

    method: str
    path: str
    body: Any
    token: str | None
    content_type: str


@dataclass
class Rollout:
    """How a workload's rollouts behave."""

    mode: str = "normal"  # normal | stuck | deadline
    steps_left: int = 0


def generate_tls(directory: Path) -> tuple[Path, Path, bytes]:
    """A CA and a server certificate for 127.0.0.1/localhost: (cert file, key file, CA PEM)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kubernetes-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, ca.public_bytes(serialization.Encoding.PEM)


class ApiFailure(Exception):
    """An error answer as a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


@dataclass
class FakeKubernetes:
    """The fake API server; ``with FakeKubernetes() as cluster:`` runs it on loopback."""

    tls: bool = True
    rollout_steps: int = 2
    tokens: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    workloads: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    rollouts: dict[tuple[str, str, str], Rollout] = field(default_factory=dict)
    ca_pem: bytes = b""
    port: int = 0

    def __post_init__(self) -> None:
        self.schemas = Schemas()
        self._lock = threading.Lock()
        self._version = 1000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._directory = tempfile.TemporaryDirectory(prefix="fake-k8s-")

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> FakeKubernetes:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        if self.tls:
            if not self.ca_pem:
                directory = Path(self._directory.name)
                self._cert, self._key, self.ca_pem = generate_tls(directory)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self._cert, self._key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
        self._thread.start()
        return self

    def stop(self) -> None:
        """Take the server down (connections are refused); ``start()`` brings it back."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None

    def __enter__(self) -> FakeKubernetes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._directory.cleanup()

    # ---------------------------------------------------------- arranging

    def grant(self, token: str, rules: Iterable[Mapping[str, Any]] = ALLOW_ALL) -> str:
        """Let ``token`` in with RBAC ``rules`` (default: everything)."""
        self.tokens[token] = [dict(rule) for rule in rules]
        return token

    def grant_role(self, token: str, rbac_file: Path) -> str:
        """Let ``token`` in with the rules of the Role in an RBAC manifest."""
        documents = list(yaml.safe_load_all(rbac_file.read_text()))
        role = next(d for d in documents if d and d.get("kind") == "Role")
        return self.grant(token, role["rules"])

    def kubeconfig(
        self, path: Path, token: str, *, namespace: str = "default", ca_pem: bytes | None = None
    ) -> Path:
        """Write a kubeconfig that reaches this server with ``token`` and trusts its CA
        (or ``ca_pem``)."""
        cluster: dict[str, Any] = {"server": self.url}
        if self.tls:
            trusted = ca_pem or self.ca_pem
            cluster["certificate-authority-data"] = base64.b64encode(trusted).decode()
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": cluster}],
            "users": [{"name": "rotator", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "rotator", "namespace": namespace},
                }
            ],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(document))
        path.chmod(0o600)
        return path

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _metadata(self, namespace: str, name: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": self._next_version(),
            "creationTimestamp": _now(),
            **{key: value for key, value in extra.items() if value},
        }

    def add_secret(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, str],
        *,
        annotations: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        managed_fields: list[dict[str, Any]] | None = None,
        owner_references: list[dict[str, Any]] | None = None,
        immutable: bool | None = None,
    ) -> dict[str, Any]:
        """Put a Secret in place (``data`` given in plain text, stored base64)."""
        with self._lock:
            secret: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": self._metadata(
                    namespace,
                    name,
                    annotations=dict(annotations or {}),
                    labels=dict(labels or {}),
                    managedFields=managed_fields,
                    ownerReferences=owner_references,
                ),
                "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            }
            if immutable is not None:
                secret["immutable"] = immutable
            self.secrets[(namespace, name)] = secret
            return copy.deepcopy(secret)

    def add_workload(
        self,
        kind: str,
        namespace: str,
        name: str,
        *,
        replicas: int = 2,
        mode: str = "normal",
        update_strategy: str = "RollingUpdate",
    ) -> None:
        """A Deployment or StatefulSet whose pods are all current and available."""
        resource = {"Deployment": "deployments", "StatefulSet": "statefulsets"}[kind]
        labels = {"app": name}
        spec: dict[str, Any] = {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": "registry.example/app:1"}]},
            },
        }
        if kind == "StatefulSet":
            spec["serviceName"] = name
            spec["updateStrategy"] = {"type": update_strategy}
        else:
            spec["strategy"] = {"type": "RollingUpdate"}
        with self._lock:
            body: dict[str, Any] = {
                "apiVersion": "apps/v1",
                "kind": kind,
                "metadata": self._metadata(namespace, name, generation=1),
                "spec": spec,
                "status": {},
            }
            self._settle(kind, body)
            self.workloads[(resource, namespace, name)] = body
            self.rollouts[(resource, namespace, name)] = Rollout(mode)

    def settle(self, resource: str, namespace: str, name: str) -> None:
        """Let a workload's rollout finish (an operator fixed it); later ones run normally."""
        with self._lock:
            body = self.workloads[(resource, namespace, name)]
            self.rollouts[(resource, namespace, name)] = Rollout("normal")
            self._settle(body["kind"], body)

    # -------------------------------------------------------------- reading

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.secrets.get((namespace, name))
            return copy.deepcopy(found) if found else None

    def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Secret's data decoded (None when absent)."""
        found = self.secret(namespace, name)
        if found is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()}

    def workload(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.workloads[(resource, namespace, name)])

    def writes(self) -> list[Seen]:
        """Requests that change something (a SelfSubjectAccessReview changes nothing)."""
        return [
            seen
            for seen in self.requests
            if seen.method in ("POST", "PUT", "PATCH", "DELETE")
            and "selfsubjectaccessreviews" not in seen.path
        ]

    # ------------------------------------------------------------- serving

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        header = handler.headers.get("Authorization") or ""
        token = header[7:] if header.startswith("Bearer ") else None
        content_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<not json>"
        self.requests.append(Seen(handler.command, parts.path, body, token, content_type))
        try:
            if token is None or token not in self.tokens:
                raise ApiFailure(401, "Unauthorized", "Unauthorized")
            if body == "<not json>":
                raise ApiFailure(400, "BadRequest", "the body is not JSON")
            status, answer = self._route(
                handler.command, parts.path, parse_qs(parts.query), body, token, content_type
            )
        except ApiFailure as failure:
            status, answer = failure.code, failure.status()
        kind = answer.get("kind")
        if kind in KINDS:
            self.violations += [f"answer: {e}" for e in self.schemas.errors(kind, answer)]
        else:
            self.violations.append(f"answer of unknown kind {kind!r}")
        payload = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _authorise(self, token: str, verb: str, group: str, resource: str, name: str) -> bool:
        for rule in self.tokens[token]:
            if not ({group, "*"} & set(rule.get("apiGroups", []))):
                continue
            if not ({resource, "*"} & set(rule.get("resources", []))):
                continue
            if not ({verb, "*"} & set(rule.get("verbs", []))):
                continue
            names = rule.get("resourceNames") or []
            if names and name not in names:
                continue
            return True
        return False

    def _require(
        self, token: str, verb: str, group: str, resource: str, name: str, namespace: str
    ) -> None:
        if not self._authorise(token, verb, group, resource, name):
            quoted = f'{resource} "{name}"' if name else resource
            raise ApiFailure(
                403,
                "Forbidden",
                f'{quoted} is forbidden: User "system:serviceaccount:rotator:rotator" cannot '
                f'{verb} resource "{resource}" in API group "{group}" in the namespace '
                f'"{namespace}"',
                name=name,
                group=group,
                kind=resource,
            )

    def _route(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        body: Any,
        token: str,
        content_type: str,
    ) -> tuple[int, dict[str, Any]]:
        if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" and method == "POST":
            return self._review(body, token)
        manager = (query.get("fieldManager") or ["unknown"])[0]
        match = re.fullmatch(r"/api/v1/namespaces/([^/]+)/secrets(?:/([^/]+))?", path)
        if match:
            namespace, name = match.group(1), match.group(2) or ""
            if method == "POST" and not name:
                self._require(token, "create", "", "secrets", "", namespace)
                return self._create_secret(namespace, body, manager)
            if name and method == "GET":
                self._require(token, "get", "", "secrets", name, namespace)
                return 200, self._get_secret(namespace, name)
            if name and method == "PATCH":
                self._require(token, "patch", "", "secrets", name, namespace)
                return self._patch_secret(namespace, name, body, manager, content_type)
            raise ApiFailure(405, "MethodNotAllowed", f"{method} is not supported here")
        match = re.fullmatch(
            r"/apis/apps/v1/namespaces/([^/]+)/(deployments|statefulsets)/([^/]+)", path
        )
        if match:
            namespace, resource, name = match.groups()
            key = (resource, namespace, name)
            verb = {"GET": "get", "PATCH": "patch"}.get(method)
            if verb is None:
                raise ApiFailure(405, "MethodNotAllowed", f"{method} is not supported here")
            self._require(token, verb, "apps", resource, name, namespace)
            with self._lock:
                if key not in self.workloads:
                    raise ApiFailure(
                        404,
                        "NotFound",
                        f'{resource}.apps "{name}" not found',
                        name=name,
                        group="apps",
                        kind=resource,
                    )
                if verb == "get":
                    return 200, self._advance(key)
                return 200, self._patch_workload(key, body, content_type)
        raise ApiFailure(404, "NotFound", "the server could not find the requested resource")

    # ---------------------------------------------------------- resources

    def _review(self, body: Any, token: str) -> tuple[int, dict[str, Any]]:
        errors = self.schemas.errors("SelfSubjectAccessReview", body)
        if errors:
            self.violations += [f"request: {e}" for e in errors]
            raise ApiFailure(422, "Invalid", "; ".join(errors))
        attributes = body["spec"].get("resourceAttributes") or {}
        allowed = self._authorise(
            token,
            attributes.get("verb", ""),
            attributes.get("group", ""),
            attributes.get("resource", ""),
            attributes.get("name", ""),
        )
        answer = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": body["spec"],
            "status": {"allowed": allowed},
        }
        if allowed:
            answer["status"]["reason"] = 'RBAC: allowed by RoleBinding "rotator/rotator"'
        return 201, answer

    def _get_secret(self, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            found = self.secrets.get((namespace, name))
            if found is None:
                raise ApiFailure(
                    404, "NotFound", f'secrets "{name}" not found', name=name, kind="secrets"
                )
            return copy.deepcopy(found)

    def _check_secret(self, secret: Any) -> None:
        errors = self.schemas.errors("Secret", secret)
        for key, value in (secret.get("data") or {}).items() if isinstance(secret, dict) else ():
            if not SECRET_KEY.match(key):
                errors.append(f"Secret data key {key!r} is not a valid key")
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError, TypeError):
                errors.append(f"Secret data {key!r} is not base64")
        if errors:
            self.violations += [f"request: {e}" for e in errors]
            raise ApiFailure(422, "Invalid", "; ".join(errors))

    def _managed(self, secret: dict[str, Any], manager: str, keys: Iterable[str]) -> None:
        entries = secret["metadata"].setdefault("managedFields", [])
        mine = next(
            (e for e in entries if e["manager"] == manager and e["operation"] == "Update"), None
        )
        if mine is None:
            mine = {
                "manager": manager,
                "operation": "Update",
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {}},
            }
            entries.append(mine)
        mine["time"] = _now()
        for key in keys:
            mine["fieldsV1"].setdefault("f:data", {})[f"f:{key}"] = {}

    def _create_secret(self, namespace: str, body: Any, manager: str) -> tuple[int, dict[str, Any]]:
        self._check_secret(body)
        name = body.get("metadata", {}).get("name", "")
        with self._lock:
            if (namespace, name) in self.secrets:
                raise ApiFailure(
                    409,
                    "AlreadyExists",
                    f'secrets "{name}" already exists',
                    name=name,
                    kind="secrets",
                )
            secret = copy.deepcopy(body)
            secret["metadata"].update(
                namespace=namespace,
                uid=str(uuid.uuid4()),
                resourceVersion=self._next_version(),
                creationTimestamp=_now(),
            )
            secret.setdefault("type", "Opaque")
            self._managed(secret, manager, (secret.get("data") or {}).keys())
            self.secrets[(namespace, name)] = secret
            return 201, copy.deepcopy(secret)

    def _patch_secret(
        self, namespace: str, name: str, patch: Any, manager: str, content_type: str
    ) -> tuple[int, dict[str, Any]]:
        if content_type not in (
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ):
            raise ApiFailure(415, "UnsupportedMediaType", f"{content_type} is not supported")
        with self._lock:
            current = self.secrets.get((namespace, name))
            if current is None:
                raise ApiFailure(
                    404, "NotFound", f'secrets "{name}" not found', name=name, kind="secrets"
                )
            wanted = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
                raise ApiFailure(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on secrets "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    name=name,
                    kind="secrets",
                )
            if current.get("immutable") is True and "data" in patch:
                raise ApiFailure(
                    422, "Invalid", f'Secret "{name}" is invalid: data: field is immutable'
                )
            merged = merge_patch(current, patch)
        self._check_secret(merged)
        with self._lock:
            merged["metadata"]["resourceVersion"] = self._next_version()
            self._managed(merged, manager, (patch.get("data") or {}).keys())
            self.secrets[(namespace, name)] = merged
            return 200, copy.deepcopy(merged)

    def _patch_workload(
        self, key: tuple[str, str, str], patch: Any, content_type: str
    ) -> dict[str, Any]:
        if content_type not in (
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ):
            raise ApiFailure(415, "UnsupportedMediaType", f"{content_type} is not supported")
        current = self.workloads[key]
        merged = merge_patch(current, patch)
        kind = current["kind"]
        errors = self.schemas.errors(kind, merged)
        if errors:
            self.violations += [f"request: {e}" for e in errors]
            raise ApiFailure(422, "Invalid", "; ".join(errors))
        if merged["spec"]["template"] != current["spec"]["template"]:
            merged["metadata"]["generation"] = current["metadata"]["generation"] + 1
            self.rollouts[key].steps_left = self.rollout_steps
        merged["metadata"]["resourceVersion"] = self._next_version()
        self.workloads[key] = merged
        return copy.deepcopy(merged)

    def _settle(self, kind: str, body: dict[str, Any]) -> None:
        """Every replica current, ready and available at the latest generation."""
        replicas = body["spec"]["replicas"]
        status: dict[str, Any] = {
            "observedGeneration": body["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        if kind == "Deployment":
            status["conditions"] = [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "lastUpdateTime": _now(),
                    "lastTransitionTime": _now(),
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "lastUpdateTime": _now(),
                    "lastTransitionTime": _now(),
                },
            ]
        else:
            revision = f"{body['metadata']['name']}-{body['metadata']['generation']}"
            status["currentRevision"] = status["updateRevision"] = revision
        body["status"] = status

    def _advance(self, key: tuple[str, str, str]) -> dict[str, Any]:
        """One step of a rollout under way, then the workload as it now reads."""
        body = self.workloads[key]
        rollout = self.rollouts[key]
        kind, replicas = body["kind"], body["spec"]["replicas"]
        generation = body["metadata"]["generation"]
        status = body["status"]
        if status.get("observedGeneration") != generation:
            if rollout.mode == "normal" and rollout.steps_left <= 1:
                self._settle(kind, body)
                rollout.steps_left = 0
                return copy.deepcopy(body)
            # A surge replica of the new template, not yet available.
            status.update(
                observedGeneration=generation,
                replicas=replicas + 1,
                updatedReplicas=1,
                readyReplicas=replicas,
                availableReplicas=replicas,
            )
            if kind == "StatefulSet":
                status["replicas"] = replicas
                status["updateRevision"] = f"{body['metadata']['name']}-{generation}"
            if rollout.mode == "deadline" and kind == "Deployment":
                status["conditions"][1].update(
                    status="False",
                    reason="ProgressDeadlineExceeded",
                    message=f'ReplicaSet "{body["metadata"]["name"]}-2" has timed out progressing.',
                )
            rollout.steps_left -= 1
        elif rollout.steps_left > 0 and rollout.mode == "normal":
            rollout.steps_left -= 1
            if rollout.steps_left <= 0:
                self._settle(kind, body)
        return copy.deepcopy(body)
