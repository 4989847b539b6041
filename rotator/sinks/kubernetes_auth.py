"""Where the Kubernetes API is and how rotator proves who it is: in-cluster or a kubeconfig.

Two sources, both read only when a sink is built, never at import time:

- **In cluster** (``in_cluster = true``): the pod's service account. The API
  server's address comes from ``KUBERNETES_SERVICE_HOST`` and
  ``KUBERNETES_SERVICE_PORT`` (the two environment variables the kubelet sets
  in every pod, read here on purpose and nowhere else), the bearer token from
  ``/var/run/secrets/kubernetes.io/serviceaccount/token`` (re-read before
  every request: the kubelet replaces bound tokens before they expire) and
  the CA from ``ca.crt`` beside it.
- **A kubeconfig file** (``kubeconfig = "..."``, ``context`` optional, else
  ``current-context``): the cluster's ``server`` and
  ``certificate-authority(-data)``, and the user's ``token``, ``tokenFile``
  or ``client-certificate(-data)`` with ``client-key(-data)``. Paths inside
  the file are relative to the file. ``exec`` plugins and ``auth-provider``
  (which run programs or fetch tokens behind rotator's back),
  ``insecure-skip-tls-verify``, basic auth and ``proxy-url`` are refused
  with a clear message: rotator never runs a program to get a credential and
  never turns TLS verification off.

``KUBECONFIG`` and every other environment variable are ignored: only the
file named in the config is read. A server must be ``https://``; plain
``http://`` is accepted only on loopback (``kubectl proxy``).
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
import yaml

from rotator.errors import ConfigError
from rotator.secret import Secret

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

# kubeconfig entries that would run a program, fetch a token, or weaken TLS.
REFUSED_USER_KEYS = {
    "exec": "an exec credential plugin",
    "auth-provider": "an auth-provider",
    "username": "basic auth (username/password)",
    "password": "basic auth (username/password)",
    "as": "impersonation",
}
REFUSED_CLUSTER_KEYS = {
    "insecure-skip-tls-verify": "insecure-skip-tls-verify (TLS is always verified)",
    "proxy-url": "proxy-url",
}


@dataclass(frozen=True)
class ClusterAccess:
    """One API server and the credentials rotator presents to it."""

    server: str  # https://host:port, no trailing slash
    source: str  # where this came from, for messages (never secret)
    ca_pem: bytes | None = None  # None: the public CA bundle (certifi)
    token: Secret | None = field(default=None, repr=False)
    token_file: Path | None = None  # read again before every request
    client_cert: bytes | None = field(default=None, repr=False)
    client_key: Secret | None = field(default=None, repr=False)

    def bearer(self) -> Secret | None:
        """The bearer token to send now (from the token file when there is one)."""
        if self.token_file is not None:
            try:
                value = self.token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    "config", [f"{self.source}: cannot read token file {self.token_file}"]
                ) from exc
            if not value:
                raise ConfigError(
                    "config", [f"{self.source}: token file {self.token_file} is empty"]
                )
            return Secret(value)
        return self.token

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying TLS context: the cluster's CA (or certifi's), plus the client cert."""
        try:
            if self.ca_pem is not None:
                context = ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))
            else:
                # certifi's bundle, not the OpenSSL defaults that SSL_CERT_FILE can redirect.
                context = ssl.create_default_context(cafile=certifi.where())
        except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(
                "config", [f"{self.source}: the certificate authority is not a PEM certificate"]
            ) from exc
        if self.client_cert is not None and self.client_key is not None:
            _load_client_pair(context, self.client_cert, self.client_key, self.source)
        return context


def _load_client_pair(context: ssl.SSLContext, cert: bytes, key: Secret, source: str) -> None:
    """Load a client certificate and key given as bytes (ssl takes only paths).

    They go to a private temporary directory (0700, files 0600) for the
    instant of the load and are removed at once.
    """
    with tempfile.TemporaryDirectory(prefix="rotator-k8s-") as directory:
        cert_path = Path(directory) / "client.crt"
        key_path = Path(directory) / "client.key"
        for path, data in ((cert_path, cert), (key_path, key.reveal().encode())):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
        try:
            context.load_cert_chain(str(cert_path), str(key_path))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                "config", [f"{source}: the client certificate and key do not load as a PEM pair"]
            ) from exc


def in_cluster(
    environ: Mapping[str, str] | None = None, directory: Path = SERVICE_ACCOUNT_DIR
) -> ClusterAccess:
    """The pod's own service account (``in_cluster = true``)."""
    env = os.environ if environ is None else environ
    source = "in-cluster service account"
    host = env.get("KUBERNETES_SERVICE_HOST", "").strip()
    port = env.get("KUBERNETES_SERVICE_PORT", "").strip() or "443"
    if not host:
        raise ConfigError(
            "config",
            [f"{source}: KUBERNETES_SERVICE_HOST is not set (is rotator running in a pod?)"],
        )
    if not port.isdigit():
        raise ConfigError("config", [f"{source}: KUBERNETES_SERVICE_PORT {port!r} is not a port"])
    token_file = directory / "token"
    ca_file = directory / "ca.crt"
    try:
        ca_pem = ca_file.read_bytes()
    except OSError as exc:
        raise ConfigError("config", [f"{source}: cannot read {ca_file}"]) from exc
    if not token_file.is_file():
        raise ConfigError(
            "config",
            [f"{source}: no token at {token_file} (automountServiceAccountToken is false?)"],
        )
    server_host = f"[{host}]" if ":" in host else host
    return ClusterAccess(
        server=f"https://{server_host}:{port}",
        source=source,
        ca_pem=ca_pem,
        token_file=token_file,
    )


def from_kubeconfig(path: Path, context: str | None = None) -> ClusterAccess:
    """The cluster and user of one context (``context``, else ``current-context``)."""
    where = f"kubeconfig {path}"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("config", [f"cannot read {where}: {exc.strerror}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError("config", [f"{where} is not valid YAML"]) from exc
    if not isinstance(document, Mapping):
        raise ConfigError("config", [f"{where} is not a kubeconfig (no mapping at the top)"])
    name = context or document.get("current-context")
    if not isinstance(name, str) or not name:
        raise ConfigError("config", [f"{where} names no current-context; set context = ..."])
    where = f"{where}, context {name!r}"
    chosen = _named(document, "contexts", "context", name, where)
    cluster = _named(document, "clusters", "cluster", str(chosen.get("cluster", "")), where)
    user = _named(document, "users", "user", str(chosen.get("user", "")), where)
    for key, meaning in REFUSED_CLUSTER_KEYS.items():
        if cluster.get(key):
            raise ConfigError(
                "config", [f"{where}: the cluster uses {meaning}; rotator refuses it"]
            )
    for key, meaning in REFUSED_USER_KEYS.items():
        if user.get(key):
            raise ConfigError(
                "config",
                [
                    f"{where}: the user uses {meaning}, which rotator does not support; use a "
                    "service account token (token or tokenFile) or a client certificate"
                ],
            )
    server = cluster.get("server")
    if not isinstance(server, str) or not _acceptable_server(server):
        raise ConfigError(
            "config",
            [
                f"{where}: the cluster's server must be an https:// URL "
                "(http:// only on loopback, as `kubectl proxy` serves)"
            ],
        )
    base = path.parent
    ca_pem = _bytes(cluster, "certificate-authority", base, where)
    token: Secret | None = None
    token_file: Path | None = None
    if isinstance(user.get("token"), str) and user["token"].strip():
        token = Secret(user["token"].strip())
    elif isinstance(user.get("tokenFile"), str):
        token_file = _path(user["tokenFile"], base)
    client_cert = _bytes(user, "client-certificate", base, where)
    client_key_bytes = _bytes(user, "client-key", base, where)
    if (client_cert is None) != (client_key_bytes is None):
        raise ConfigError(
            "config", [f"{where}: the user has a client certificate or key but not both"]
        )
    client_key = Secret(client_key_bytes.decode("ascii", "replace")) if client_key_bytes else None
    if token is None and token_file is None and client_cert is None:
        raise ConfigError(
            "config", [f"{where}: the user has no token, tokenFile or client certificate"]
        )
    return ClusterAccess(
        server=server.rstrip("/"),
        source=where,
        ca_pem=ca_pem,
        token=token,
        token_file=token_file,
        client_cert=client_cert,
        client_key=client_key,
    )


def _acceptable_server(server: str) -> bool:
    """https://, or plain http:// to a loopback address (``kubectl proxy``)."""
    parts = urlsplit(server)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in LOOPBACK


def _named(document: Mapping[str, Any], plural: str, key: str, name: str, where: str) -> Any:
    """``clusters[name == NAME].cluster`` (likewise contexts, users)."""
    entries = document.get(plural)
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            body = entry.get(key)
            if isinstance(body, Mapping):
                return body
    raise ConfigError("config", [f"{where}: no {key} named {name!r} in {plural}"])


def _path(value: str, base: Path) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def _bytes(section: Mapping[str, Any], key: str, base: Path, where: str) -> bytes | None:
    """``<key>-data`` (base64) or ``<key>`` (a file path), as bytes; None when neither."""
    inline = section.get(f"{key}-data")
    if isinstance(inline, str) and inline.strip():
        try:
            return base64.b64decode(inline, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("config", [f"{where}: {key}-data is not base64"]) from exc
    named = section.get(key)
    if isinstance(named, str) and named.strip():
        file = _path(named, base)
        try:
            return file.read_bytes()
        except OSError as exc:
            raise ConfigError("config", [f"{where}: cannot read {key} {file}"]) from exc
    return None
