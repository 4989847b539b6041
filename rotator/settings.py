"""Settings: ``ROTATOR_*`` environment variables plus one TOML config file.

The environment says where things are (state directory, master key, API
bases); the TOML file says what to do (daemon intervals, per-connection
scopes, rotation policies, alert channels). Both are validated strictly:
unknown keys and unknown ``ROTATOR_*`` variables are errors, and every
problem is reported at once with its location (``policies[0].sinks[1].url``).
Nothing here reads the environment at import time.

Why one module of this size: it is the whole config schema, read top to
bottom as the operator's reference (every table, default and cross-check in
the order the example file uses); the plugin tables live with their plugins.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rotator import files
from rotator.alerts import CHANNELS, ChannelConfig
from rotator.configtypes import (
    NAME_PATTERN,
    PATTERN_MEANING,
    SCOPE_PATTERN,
    Duration,
    HttpUrl,
    Name,
    NonEmpty,
    Strict,
    read_secret,
)
from rotator.credentials import DEFAULT_KIND, KIND_NAMES, OPTION_KEYS, CredentialKind
from rotator.credentials.functions_key import lifetime
from rotator.errors import ConfigError
from rotator.secret import Secret
from rotator.sinks import SINKS, SinkConfig

DEFAULT_CONFIG_PATH = Path("/etc/rotator/rotator.toml")

# One tagged union per plugin list: ``type = "..."`` picks the model, and a
# new sink or channel in its registry is accepted here with no edit.
if TYPE_CHECKING:
    AnySinkConfig = SinkConfig
    AnyChannelConfig = ChannelConfig
else:
    AnySinkConfig = Annotated[
        Union[tuple(sink.Config for sink in SINKS)],  # noqa: UP007 (built from a tuple)
        Field(discriminator="type"),
    ]
    AnyChannelConfig = Annotated[
        Union[tuple(channel.Config for channel in CHANNELS)],  # noqa: UP007
        Field(discriminator="type"),
    ]
KIND_LITERALS = tuple(KIND_NAMES)
# The discriminator tags pydantic adds to an error's location.
_PLUGIN_TAGS = frozenset({sink.type for sink in SINKS} | {channel.type for channel in CHANNELS})

__all__ = [
    "NAME_PATTERN",
    "AnyChannelConfig",
    "AnySinkConfig",
    "ConfigError",
    "ConnectionConfig",
    "DaemonConfig",
    "DigitalOceanConfig",
    "FileConfig",
    "PolicyConfig",
    "Settings",
    "load_config_file",
    "load_settings",
    "parse_config",
    "read_secret",
]


class DaemonConfig(Strict):
    """``[daemon]``: how often the daemon does each job."""

    validate_every: Duration = timedelta(hours=1)
    audit_every: Duration = timedelta(hours=24)
    health_listen: str | None = None
    concurrency: Annotated[int, Field(ge=1, le=64)] = 16
    max_token_age: Duration = timedelta(days=90)
    expiry_warning: Duration = timedelta(days=7)
    alert_reminder: Duration = timedelta(hours=24)
    stale_after: Duration = timedelta(minutes=5)
    """How late the main loop may be before ``/healthz`` answers 503."""
    lease_ttl: Duration = timedelta(seconds=60)
    """How long a replica's lease on an item lasts unless renewed (renewed every third of it);
    a replica that dies is taken over after at most this plus one poll."""

    @field_validator("lease_ttl")
    @classmethod
    def _lease_ttl(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=3) <= value <= timedelta(hours=1):
            raise ValueError("expected a lease TTL between 3s and 1h")
        return value

    @field_validator("health_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None and (
            not re.fullmatch(r"\[?[0-9A-Za-z.:-]+\]?:\d{1,5}", value)
            or int(value.rpartition(":")[2]) > 65535
        ):
            raise ValueError(f"expected host:port such as 127.0.0.1:9464, got {value!r}")
        return value


class DigitalOceanConfig(Strict):
    """``[digitalocean]``: HTTP client behaviour."""

    timeout: Duration = timedelta(seconds=10)
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    requests_per_minute: Annotated[int, Field(ge=1)] = 250
    requests_per_hour: Annotated[int, Field(ge=1)] = 5000
    max_wait: Duration = timedelta(seconds=30)
    """The most a CLI command waits on rate limits before it stops with the reset time."""


class ConnectionConfig(Strict):
    """``[connections.NAME]``: what a connection's token legitimately needs."""

    extra_scopes: list[Annotated[str, Field(pattern=SCOPE_PATTERN)]] = []


_CLUSTER_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class PolicyConfig(Strict):
    """``[[policies]]``: one credential, rotated on a schedule into sinks.

    ``kind`` names the credential kind (:mod:`rotator.credentials`); it
    defaults to ``spaces_key`` when ``spaces_key = …`` is set, so configs
    written before kinds existed keep working. The other keys below are
    kind-specific: a policy sets those its kind requires and no other.
    """

    name: Name
    connection: Name
    kind: Literal[KIND_LITERALS] | None = None  # type: ignore[valid-type]
    spaces_key: NonEmpty | None = None
    namespace: NonEmpty | None = None
    key: NonEmpty | None = None
    expires_in: NonEmpty | None = None
    agent: NonEmpty | None = None
    registry: NonEmpty | None = None
    access: NonEmpty | None = None
    cluster: NonEmpty | None = None
    user: NonEmpty | None = None
    grant_role: NonEmpty | None = None
    mode: NonEmpty | None = None
    database: NonEmpty | None = None
    every: Duration = timedelta(days=30)
    grace: Duration = timedelta(hours=1)
    verify: bool = False
    sinks: Annotated[list[AnySinkConfig], Field(min_length=1)]

    @field_validator("verify")
    @classmethod
    def _verify_not_yet(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "verify = true is not available in this version: the new key is "
                "confirmed by every sink instead (see README, Rotation guarantees)"
            )
        return value

    @property
    def credential_kind(self) -> type[CredentialKind]:
        """The kind's class (``spaces_key`` unless ``kind`` says otherwise)."""
        return KIND_NAMES[self.kind or DEFAULT_KIND]

    def rotation_scopes(self) -> frozenset[str]:
        """The scopes rotating this policy's credential takes (the audit requires them)."""
        return self.credential_kind.scopes(self.kind_options())

    @property
    def reference(self) -> str:
        """What the policy names (kind and keys): a change means another credential."""
        options = self.kind_options()
        return f"{self.kind}:" + ",".join(f"{k}={options[k]}" for k in sorted(options))

    def kind_options(self) -> dict[str, str]:
        """The kind-specific keys this policy sets, by name."""
        return {
            key: value
            for key in self.credential_kind.option_keys
            if isinstance(value := getattr(self, key), str)
        }

    @model_validator(mode="before")
    @classmethod
    def _default_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") is None and "spaces_key" in data:
            return {**data, "kind": DEFAULT_KIND}
        if (
            isinstance(data, dict)
            and data.get("kind") == "database_user"
            and "cluster" not in data
            and isinstance(data.get("database"), str)
            and _CLUSTER_UUID.fullmatch(data["database"])
        ):
            # The documented spelling `database = "<cluster uuid>"`: the cluster, and the
            # database the cluster's own (a database name is never a UUID).
            rest = {k: v for k, v in data.items() if k != "database"}
            return {**rest, "cluster": data["database"]}
        return data

    @model_validator(mode="after")
    def _kind_keys(self) -> PolicyConfig:
        if self.kind is None:
            raise ValueError(
                f"set kind (one of {', '.join(KIND_NAMES)}) or spaces_key = the key to rotate"
            )
        kind = self.credential_kind
        missing = [key for key in kind.required if getattr(self, key) is None]
        if missing:
            raise ValueError(f"kind {kind.kind!r} needs {', '.join(missing)}")
        foreign = sorted(
            key for key in OPTION_KEYS - set(kind.option_keys) if getattr(self, key) is not None
        )
        if foreign:
            raise ValueError(f"kind {kind.kind!r} takes no {', '.join(foreign)}")
        kind.check_options(self.kind_options())
        if self.expires_in is not None and lifetime(self.expires_in) <= self.every + self.grace:
            raise ValueError(
                f"expires_in {self.expires_in} must outlast every + grace, or keys expire "
                "before their successor is made"
            )
        for sink in self.sinks:
            unknown = sorted(sink.field_names() - set(kind.fields))
            if unknown:
                raise ValueError(
                    f"sink {sink.label!r} maps {', '.join(unknown)}, which a {kind.kind} does "
                    f"not have (its fields: {', '.join(kind.fields)})"
                )
        return self

    @model_validator(mode="after")
    def _unique_sink_labels(self) -> PolicyConfig:
        labels = [sink.label for sink in self.sinks]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"two sinks share the name {duplicates[0]!r}; give each a name")
        return self


class StoreConfig(Strict):
    """``[store]``: what the store keeps."""

    keep_history: Duration = timedelta(days=400)


class FileConfig(Strict):
    """The whole TOML config file."""

    daemon: DaemonConfig = DaemonConfig()
    digitalocean: DigitalOceanConfig = DigitalOceanConfig()
    store: StoreConfig = StoreConfig()
    connections: dict[Name, ConnectionConfig] = {}
    policies: list[PolicyConfig] = []
    alerts: list[AnyChannelConfig] = []

    @model_validator(mode="after")
    def _unique_policy_names(self) -> FileConfig:
        names = [policy.name for policy in self.policies]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"policy name {duplicates[0]!r} is used twice")
        return self


class EnvSettings(BaseSettings):
    """The ``ROTATOR_*`` environment variables (see INTERFACE.md)."""

    model_config = SettingsConfigDict(env_prefix="ROTATOR_", extra="ignore", frozen=True)

    config: Path | None = None
    state_dir: Path | None = None
    master_key_file: Path | None = None
    master_key: SecretStr | None = None
    database_url: SecretStr | None = None
    database_url_file: Path | None = None
    do_api_url: HttpUrl = "https://api.digitalocean.com"
    do_oauth_url: HttpUrl = "https://cloud.digitalocean.com"
    do_registry_url: HttpUrl = "https://registry.digitalocean.com"
    """New registry credentials are sent here to log in: HTTPS, or plain HTTP on loopback."""
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("do_registry_url")
    @classmethod
    def _registry_over_https(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme != "https" and url.hostname not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("must be https:// (plain http only on loopback)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only explicit values and the real environment: no .env files or
        # secret directories read behind the operator's back.
        return (init_settings, env_settings)


@dataclass(frozen=True)
class Settings:
    """Everything rotator needs to know, resolved and validated."""

    state_dir: Path
    master_key_file: Path
    master_key: Secret | None
    api_url: str
    oauth_url: str
    log_format: str
    log_level: str
    config_path: Path | None
    config: FileConfig = field(default_factory=FileConfig)
    credentials_directory: Path | None = None
    database_url: Secret | None = None  # postgresql://…: the store is that database
    registry_url: str = "https://registry.digitalocean.com"

    @property
    def store_path(self) -> Path:
        return self.state_dir / "rotator.db"

    def connection_config(self, name: str) -> ConnectionConfig:
        return self.config.connections.get(name, ConnectionConfig())


def _location(loc: tuple[int | str, ...]) -> str:
    """``('policies', 0, 'sinks', 1, 'vault', 'url')`` → ``policies[0].sinks[1].url``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _PLUGIN_TAGS and text.endswith("]"):
            continue  # the discriminator tag pydantic adds to the path
        else:
            # A key a user typed may hold anything: quote it unless it is plain.
            key = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)
            text += f".{key}" if text else key
    return text or "(top level)"


def _problems(exc: ValidationError, *, env: bool = False) -> list[str]:
    problems = []
    for error in exc.errors():
        where = _location(error["loc"])
        if env:
            where = "ROTATOR_" + where.upper()
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "string_pattern_mismatch":
            pattern = str(error.get("ctx", {}).get("pattern", ""))
            message = f"{error['input']!r} is not {PATTERN_MEANING.get(pattern, 'well formed')}"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return problems


def load_config_file(path: Path) -> FileConfig:
    """Read and validate one TOML config file, reporting every problem at once."""
    text = files.read_text(path, what="", source="config file", limit=files.CONFIG_LIMIT)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from exc
    except RecursionError as exc:
        raise ConfigError(
            str(path), ["not valid TOML: arrays or tables nested too deeply"]
        ) from exc
    return parse_config(data, source=str(path))


def parse_config(data: Mapping[str, Any], *, source: str = "config") -> FileConfig:
    """Validate an already-parsed config mapping."""
    try:
        return FileConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _problems(exc)) from exc
    except RecursionError as exc:
        raise ConfigError(source, ["values nested too deeply"]) from exc


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    known = {f"ROTATOR_{name.upper()}" for name in EnvSettings.model_fields}
    return sorted(
        f"{name}: unknown variable (known: {', '.join(sorted(known))})"
        for name in environ
        if name.startswith("ROTATOR_") and name not in known
    )


def _empty_variables(environ: Mapping[str, str]) -> list[str]:
    # An empty value is a mistake (a failed substitution), never "use the default":
    # an empty ROTATOR_STATE_DIR would put the store in the current directory.
    known = {f"ROTATOR_{name.upper()}" for name in EnvSettings.model_fields}
    return sorted(
        f"{name}: set but empty (unset it to use the default)"
        for name, value in environ.items()
        if name in known and not value.strip()
    )


def load_settings(
    environ: Mapping[str, str] | None = None, *, config_path: Path | None = None
) -> Settings:
    """Resolve the environment and the config file into :class:`Settings`.

    ``environ`` defaults to the process environment, read now (never at import).
    """
    environ = os.environ if environ is None else environ
    problems = _unknown_variables(environ) + _empty_variables(environ)
    env_values = {
        name: environ[f"ROTATOR_{name.upper()}"]
        for name in EnvSettings.model_fields
        if environ.get(f"ROTATOR_{name.upper()}", "").strip()
    }
    try:
        env = EnvSettings.model_validate(env_values)
    except ValidationError as exc:
        problems += _problems(exc, env=True)
        raise ConfigError("environment", problems) from exc
    if problems:
        raise ConfigError("environment", problems)
    if env.master_key is not None and env.master_key_file is not None:
        raise ConfigError(
            "environment", ["set ROTATOR_MASTER_KEY or ROTATOR_MASTER_KEY_FILE, not both"]
        )

    if env.state_dir is not None:
        state_dir = env.state_dir
    elif environ.get("STATE_DIRECTORY"):
        # systemd may pass several directories separated by ':'; ours is the first.
        state_dir = Path(environ["STATE_DIRECTORY"].split(":")[0])
    else:
        state_dir = Path(environ.get("HOME", "~")).expanduser() / ".local/state/rotator"

    if env.master_key_file is not None:
        key_file = env.master_key_file
    elif environ.get("CREDENTIALS_DIRECTORY"):
        key_file = Path(environ["CREDENTIALS_DIRECTORY"]) / "master-key"
    else:
        key_file = state_dir / "master.key"

    path = config_path or env.config
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    config = load_config_file(path) if path is not None else FileConfig()

    master_key = Secret(env.master_key.get_secret_value()) if env.master_key else None
    database_url = _database_url(env)
    return Settings(
        state_dir=state_dir,
        master_key_file=key_file,
        master_key=master_key,
        api_url=env.do_api_url.rstrip("/"),
        oauth_url=env.do_oauth_url.rstrip("/"),
        log_format=env.log_format,
        log_level=env.log_level,
        config_path=path,
        config=config,
        credentials_directory=(
            Path(environ["CREDENTIALS_DIRECTORY"]) if environ.get("CREDENTIALS_DIRECTORY") else None
        ),
        database_url=database_url,
        registry_url=env.do_registry_url.rstrip("/"),
    )


URL_FILE_LIMIT = 8192  # bytes: a URL, not a file someone pointed us at by mistake


def _database_url(env: EnvSettings) -> Secret | None:
    """``ROTATOR_DATABASE_URL`` or the file ``ROTATOR_DATABASE_URL_FILE`` names, checked.

    Every message names the variable, never the value (it holds a password).
    """
    if env.database_url is not None and env.database_url_file is not None:
        raise ConfigError(
            "environment", ["set ROTATOR_DATABASE_URL or ROTATOR_DATABASE_URL_FILE, not both"]
        )
    if env.database_url is not None:
        name, text = "ROTATOR_DATABASE_URL", env.database_url.get_secret_value().strip()
    elif env.database_url_file is not None:
        name, text = "ROTATOR_DATABASE_URL_FILE", _read_url_file(env.database_url_file)
    else:
        return None
    if not text.startswith(("postgresql://", "postgres://")) or any(c.isspace() for c in text):
        raise ConfigError("environment", [f"{name}: not a postgresql://… URL"])
    return Secret(text)


def _read_url_file(path: Path) -> str:
    """The one line in ``path`` (symbolic links followed: Kubernetes mounts secrets so)."""
    where = f"ROTATOR_DATABASE_URL_FILE: {path}"
    try:
        with path.open("rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ConfigError("environment", [f"{where} is not a regular file"])
            raw = handle.read(URL_FILE_LIMIT + 1)
    except OSError as exc:
        raise ConfigError("environment", [f"{where}: cannot read ({exc.strerror})"]) from None
    if len(raw) > URL_FILE_LIMIT:
        raise ConfigError("environment", [f"{where} is longer than {URL_FILE_LIMIT} bytes"])
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError("environment", [f"{where} is not UTF-8 text"]) from None
    if not text:
        raise ConfigError("environment", [f"{where} is empty"])
    return text
