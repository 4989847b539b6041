"""GitHub Actions sink: the credential's fields as repository, environment or organisation secrets.

A push reads the target's public key (``GET …/secrets/public-key``), seals
each value with it (a libsodium sealed box, as GitHub requires: only GitHub,
holding the private key, can open it), and writes each secret with the key's
id (``PUT …/secrets/{secret_name}``: 201 created, 204 updated). When GitHub
rotated its key between our read and our write it refuses the write (422);
the sink then reads the key again and, if its id changed, seals and writes
once more with the new key.

**What the confirmation proves.** GitHub never returns a secret's value, so
a push is confirmed by reading every secret back (``GET
…/secrets/{secret_name}``) and requiring its ``updated_at`` to be no earlier
than the moment the push began, by GitHub's own clock (the ``Date`` of its
answer to the public-key read, so clock skew between rotator and GitHub does
not matter). That proves GitHub *stored* the new values. It does not prove
that a workflow has *used* them: a workflow picks secrets up when it next
runs. Plan the policy's ``grace`` so that the workflows that use the old key
run (or are re-run) within it.

For the same reason :meth:`GitHubActionsSink.holds` cannot tell which key
GitHub holds, and answers None.

**Token.** A fine-grained personal access token or a GitHub App installation
token with one permission: ``Secrets: Read and write`` on the repository
(repository and environment secrets) or ``Organization secrets: Read and
write`` on the organisation; nothing else. It is read from ``token_file``.
:meth:`GitHubActionsSink.check` reads the public key, which proves the token
can read secrets metadata and that the target exists, without writing.

Why one module of this size: sealing, writing and reading back are one
protocol with GitHub's public key in the middle; the HTTP is apart
(:mod:`rotator.sinks.github_http`).
"""

from __future__ import annotations

import base64
import binascii
import builtins
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar, Literal
from urllib.parse import quote

from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox
from pydantic import Field, PositiveInt, field_validator, model_validator

from rotator.configtypes import Duration, HttpUrl, ReadableFile, read_secret, seconds
from rotator.errors import SinkError
from rotator.secret import Secret
from rotator.sinks.base import (
    Confirmation,
    Credential,
    PushContext,
    Sink,
    SinkConfig,
    SinkDeps,
)
from rotator.sinks.github_http import DEFAULT_TIMEOUT, GitHubHTTP

log = logging.getLogger(__name__)

SECRET_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REPOSITORY_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
ORGANIZATION_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"
DEFAULT_SECRETS = {"SPACES_ACCESS_KEY": "access_key", "SPACES_SECRET_KEY": "secret_key"}

FieldName = Annotated[str, Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")]


def secret_name_problem(name: str) -> str | None:
    """Why GitHub would refuse ``name`` as a secret name, or None when it is fine."""
    if not SECRET_NAME_PATTERN.match(name):
        return (
            f"{name!r} is not a valid GitHub secret name "
            "(letters, digits and _, not starting with a digit)"
        )
    if name.upper().startswith("GITHUB_"):
        return f"{name!r}: GitHub secret names must not start with GITHUB_"
    return None


class GitHubActionsSinkConfig(SinkConfig):
    """``type = "github_actions"``: repository, environment or organisation secrets in GitHub."""

    type: Literal["github_actions"]
    repository: Annotated[str, Field(pattern=REPOSITORY_PATTERN)] | None = None
    environment: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    organization: Annotated[str, Field(pattern=ORGANIZATION_PATTERN)] | None = None
    visibility: Literal["private", "all", "selected"] | None = None
    selected_repositories: list[PositiveInt] | None = None
    # GitHub secret name -> the credential's field written into it
    secrets: dict[str, FieldName] = Field(default_factory=lambda: dict(DEFAULT_SECRETS))
    token_file: ReadableFile
    api_url: HttpUrl = "https://api.github.com"
    # The most one request to GitHub may take, first byte to last.
    timeout: Duration = timedelta(seconds=DEFAULT_TIMEOUT)

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, secrets: dict[str, str]) -> dict[str, str]:
        if not secrets:
            raise ValueError("name at least one secret to write")
        problems = [p for p in map(secret_name_problem, secrets) if p]
        seen: dict[str, str] = {}
        for name in secrets:  # GitHub's names are case-insensitive
            if name.upper() in seen:
                problems.append(f"{seen[name.upper()]!r} and {name!r} are the same GitHub secret")
            seen[name.upper()] = name
        if problems:
            raise ValueError("; ".join(problems))
        return secrets

    @model_validator(mode="after")
    def _one_target(self) -> GitHubActionsSinkConfig:
        if (self.repository is None) == (self.organization is None):
            raise ValueError("set exactly one of repository or organization")
        if self.organization is None:
            if self.visibility is not None or self.selected_repositories is not None:
                raise ValueError("visibility and selected_repositories apply to organization only")
        else:
            if self.environment is not None:
                raise ValueError("environment applies to repository only")
            if (self.visibility == "selected") != (self.selected_repositories is not None):
                raise ValueError(
                    'selected_repositories is needed with visibility = "selected", and only then'
                )
        return self

    def default_label(self) -> str:
        return self.target().label

    def target(self) -> Target:
        """Where the secrets go, as paths and words."""
        if self.organization is not None:
            return Target(
                label=f"org:{self.organization}",
                described=f"organization {self.organization}",
                base=f"/orgs/{quote(self.organization, safe='')}/actions/secrets",
                visibility=self.visibility or "private",
                selected_repositories=tuple(self.selected_repositories or ()),
            )
        assert self.repository is not None  # the validator saw to it
        owner, name = self.repository.split("/", 1)
        repository = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
        if self.environment is not None:
            return Target(
                label=f"{self.repository}@{self.environment}",
                described=f"environment {self.environment!r} of repository {self.repository}",
                base=f"{repository}/environments/{quote(self.environment, safe='')}/secrets",
            )
        return Target(
            label=self.repository,
            described=f"repository {self.repository}",
            base=f"{repository}/actions/secrets",
        )

    def build(self, deps: SinkDeps) -> GitHubActionsSink:
        """The sink and its HTTP client; reads the token file, sends nothing."""
        label = self.label
        token = read_secret(None, self.token_file, f"sink {label}: GitHub token")
        target = self.target()
        http = GitHubHTTP(
            label, self.api_url, token, target=target.described, timeout=seconds(self.timeout)
        )
        return GitHubActionsSink(label, http, target, dict(self.secrets))


@dataclass(frozen=True)
class Target:
    """A repository, an environment of one, or an organisation."""

    label: str  # "owner/name", "owner/name@production", "org:acme"
    described: str  # "repository owner/name", for messages
    base: str  # the API path of its secrets collection
    visibility: str | None = None  # organisation secrets only
    selected_repositories: tuple[int, ...] = ()


@dataclass(frozen=True)
class PublicKeyAnswer:
    """The target's current public key, and GitHub's clock when it was read."""

    key_id: str
    key: PublicKey
    read_at: datetime | None


class GitHubActionsSink(Sink):
    """Delivers a credential's fields to GitHub Actions secrets, sealed with GitHub's key."""

    type: ClassVar[str] = "github_actions"
    Config: ClassVar[builtins.type[SinkConfig]] = GitHubActionsSinkConfig

    def __init__(
        self,
        label: str,
        http: GitHubHTTP,
        target: Target,
        secrets: Mapping[str, str],
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(label)
        self._http = http
        self.target = target
        self.secrets = dict(secrets)
        self._now = now or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------ contract

    def check(self) -> None:
        """Prove the token can read the target's secrets metadata; write nothing.

        Calls ``GET {base}/public-key``. Writing cannot be proved without
        writing: a token that may read but not write fails at the first push,
        with the old key still in use.
        """
        self._public_key()

    def describe_push(self, access_key: str, context: PushContext) -> list[str]:
        """Which secrets a push would write where (names, never values); sends only reads.

        Calls ``GET {base}/public-key`` and ``GET {base}/{secret_name}`` for each secret.
        """
        key = self._public_key()
        lines = []
        for name, field_name in self.secrets.items():
            shown = access_key if field_name == "access_key" else f"<new {field_name}>"
            answer = self._http.send("GET", f"{self.target.base}/{name}", f"reading secret {name}")
            if answer.ok:
                updated = answer.body.get("updated_at", "?")
                now = f"replacing the value set {updated}"
            elif answer.status == 404:
                now = "a new secret"
            else:
                raise self._http.refused(answer, f"reading secret {name}")
            lines.append(
                f"write {field_name} = {shown} to secret {name} of {self.target.described} "
                f"({now}), sealed with GitHub's key {key.key_id}"
            )
        if self.target.visibility is not None:
            lines.append(f"organisation secrets visible to: {self._visibility_words()}")
        return lines

    def push(self, keys: Credential, context: PushContext) -> Confirmation:
        """Seal and write every secret, then read each back to confirm GitHub stored it.

        Calls ``GET {base}/public-key``, ``PUT {base}/{secret_name}`` per
        secret (again after one more ``GET {base}/public-key`` when GitHub
        rotated its key meanwhile), then ``GET {base}/{secret_name}`` per secret.
        """
        values = self._values(keys)
        key = self._public_key()
        # GitHub's own clock when the push began: updated_at must not be older.
        began = key.read_at or self._now()
        began = began.replace(microsecond=0)
        for name, value in values.items():
            key = self._put(name, value, key, hide=list(values.values()))
        confirmed = self._confirm(began)
        log.info(
            "github_actions sink %s: wrote %s to %s (updated at %s)",
            self.label,
            ", ".join(values),
            self.target.described,
            confirmed,
        )
        return Confirmation(
            self.label,
            {
                "target": self.target.described,
                "secrets": ", ".join(values),
                "updated_at": confirmed,
                "key_id": key.key_id,
            },
        )

    def holds(self) -> str | None:
        """Always None: GitHub never reveals a secret's value, so no key can be read back."""
        return None

    def close(self) -> None:
        """Close the HTTP session to GitHub."""
        self._http.close()

    # -------------------------------------------------------------- steps

    def _values(self, keys: Credential) -> dict[str, Secret]:
        """Each secret name's value, taken from the credential's named fields."""
        fields = keys.fields()
        missing = sorted({f for f in self.secrets.values() if f not in fields})
        if missing:
            raise SinkError(
                self.label,
                f"the credential has no field {', '.join(missing)} "
                f"(it has {', '.join(sorted(fields))}); fix the secrets table",
            )
        return {name: Secret(fields[field_name]) for name, field_name in self.secrets.items()}

    def _public_key(self) -> PublicKeyAnswer:
        """``GET {base}/public-key``: the key GitHub wants secrets sealed with."""
        action = f"reading the public key of {self.target.described}"
        answer = self._http.send("GET", f"{self.target.base}/public-key", action)
        if not answer.ok:
            raise self._http.refused(answer, action)
        key_id, encoded = answer.body.get("key_id"), answer.body.get("key")
        try:
            if not isinstance(key_id, str) or not key_id or not isinstance(encoded, str):
                raise ValueError("key_id or key missing")
            key = PublicKey(base64.b64decode(encoded, validate=True))
        except (ValueError, binascii.Error, CryptoError, TypeError) as exc:
            raise SinkError(
                self.label,
                f"GitHub at {self._http.address} answered {action} with no usable key",
            ) from exc
        return PublicKeyAnswer(key_id, key, answer.date)

    def _put(
        self, name: str, value: Secret, key: PublicKeyAnswer, hide: list[Secret]
    ) -> PublicKeyAnswer:
        """``PUT {base}/{name}``, once more with a fresh key if GitHub rotated its key.

        Returns the key the value was finally sealed with.
        """
        action = f"writing secret {name} to {self.target.described}"
        path = f"{self.target.base}/{name}"
        answer = self._http.send("PUT", path, action, self._body(value, key))
        if answer.status == 422:
            fresh = self._public_key()
            if fresh.key_id != key.key_id:
                log.info(
                    "github_actions sink %s: GitHub's key changed from %s to %s; sealing again",
                    self.label,
                    key.key_id,
                    fresh.key_id,
                )
                key = fresh
                answer = self._http.send("PUT", path, action, self._body(value, key))
        if not answer.ok:
            raise self._http.refused(answer, action, hide)
        return key

    def _body(self, value: Secret, key: PublicKeyAnswer) -> dict[str, object]:
        """The PUT body: the value sealed for GitHub's key, the key's id, and the org options."""
        sealed = SealedBox(key.key).encrypt(value.reveal().encode("utf-8"))
        body: dict[str, object] = {
            "encrypted_value": base64.b64encode(sealed).decode("ascii"),
            "key_id": key.key_id,
        }
        if self.target.visibility is not None:
            body["visibility"] = self.target.visibility
            if self.target.visibility == "selected":
                body["selected_repository_ids"] = list(self.target.selected_repositories)
        return body

    def _confirm(self, began: datetime) -> str:
        """Read every secret back; each must have been updated since ``began``.

        Returns the latest ``updated_at`` seen, as GitHub wrote it.
        """
        latest = ""
        for name in self.secrets:
            action = f"reading back secret {name} of {self.target.described}"
            answer = self._http.send("GET", f"{self.target.base}/{name}", action)
            if not answer.ok:
                raise self._http.refused(answer, action)
            updated = _parse_time(answer.body.get("updated_at"))
            if updated is None:
                raise SinkError(
                    self.label,
                    f"GitHub at {self._http.address} gave no usable updated_at while {action}",
                )
            if updated < began:
                raise SinkError(
                    self.label,
                    f"read-back of secret {name} of {self.target.described} shows it last "
                    f"updated {updated.isoformat()}, before this push began "
                    f"({began.isoformat()}): GitHub did not store the new value",
                )
            latest = max(latest, updated.isoformat())
        return latest

    def _visibility_words(self) -> str:
        if self.target.visibility == "selected":
            ids = ", ".join(map(str, self.target.selected_repositories))
            return f"selected repositories ({ids})"
        return {"all": "all repositories", "private": "private and internal repositories"}.get(
            self.target.visibility or "", "?"
        )


def _parse_time(value: object) -> datetime | None:
    """GitHub's ``2026-12-05T08:50:00Z`` as an aware UTC time, or None."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)


__all__ = ["GitHubActionsSink", "GitHubActionsSinkConfig", "secret_name_problem"]
