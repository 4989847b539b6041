"""The bad-input matrix: rotator run as an operator runs it, on input that is wrong.

Every row is one bad input (a token, a name, a config file, an environment
variable, a master key, a store, a command line). Each runs `python -m
rotator` in its own copy of a home that holds an initialised store with one
registered connection, and must end with:

- the expected exit code (1: the operation hit a problem, 2: usage or config);
- exactly one `error:` line on stderr (for argparse usage errors: the usage
  and one `rotator ...: error:` line), holding the expected words;
- no traceback;
- no secret: neither the registered token, the master key, a planted secret
  file's content, nor a token typed by mistake;
- the store and the master key file byte for byte as they were.

Adding a case is one line in :data:`CASES`. ``{home}`` in an argument, an
environment value or a config text stands for the case's home directory.
The rows run in parallel threads (each is its own process) before the
per-row assertions.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rotator.sandbox import Sandbox
from tests.support.cli import ROTATION_SCOPES, media_policy
from tests.support.proxy import HostileProxy

# Every row runs in the first test's module fixture: give it room on a busy machine.
pytestmark = pytest.mark.timeout(600)

HEX = "0123456789abcdef" * 4
TYPED_TOKEN = "dop_v1_" + "c0ffee11" * 8  # a token an operator typed on the command line
CANARY = "canary-secret-4b1d-9f3e"  # planted in every secret file a case writes
DEFAULT_CONFIG = '[digitalocean]\nretries = 0\ntimeout = "2s"\n'
OTHER_KEY = base64.b64encode(bytes(range(32))).decode()


# -- what a case may prepare in its home -------------------------------------------


def labelled(label: str, prepare: Callable[[Path], None]) -> Callable[[Path], None]:
    """*prepare*, named so two rows can be told apart."""
    prepare.label = label  # type: ignore[attr-defined]
    return prepare


def write(relative: str, content: bytes | str, mode: int = 0o600) -> Callable[[Path], None]:
    def prepare(home: Path) -> None:
        path = home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(mode)

    return labelled(f"write {relative} {content[:40]!r} {len(content)} {mode:o}", prepare)


def fifo(relative: str, mode: int = 0o600) -> Callable[[Path], None]:
    def prepare(home: Path) -> None:
        path = home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path, mode)

    return labelled(f"fifo {relative} {mode:o}", prepare)


def directory(relative: str, mode: int = 0o700) -> Callable[[Path], None]:
    def prepare(home: Path) -> None:
        (home / relative).mkdir(parents=True, mode=mode)

    return labelled(f"directory {relative}", prepare)


def replace_with_directory(relative: str) -> Callable[[Path], None]:
    def prepare(home: Path) -> None:
        (home / relative).unlink(missing_ok=True)
        (home / relative).mkdir(mode=0o700)

    return labelled(f"directory instead of {relative}", prepare)


def symlink(relative: str, target: str) -> Callable[[Path], None]:
    def prepare(home: Path) -> None:
        path = home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    return labelled(f"symlink {relative} {target}", prepare)


def replace_store(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def prepare(home: Path) -> None:
        store = home / "state" / "rotator.db"
        store.unlink()
        make(store)

    return labelled(f"replace the store: {make.__name__}", prepare)


def foreign_sqlite(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.commit()
    db.close()


def garbage(path: Path) -> None:
    path.write_bytes(b"x" * 4096)


def newer_store(home: Path) -> None:
    db = sqlite3.connect(home / "state" / "rotator.db")
    db.execute("PRAGMA user_version = 999")
    db.commit()
    db.close()


def truncated_store(home: Path) -> None:
    store = home / "state" / "rotator.db"
    store.write_bytes(store.read_bytes()[:2048])


def tamper(sql: str) -> Callable[[Path], None]:
    """Edit the store by hand, as sqlite3 on the command line would."""

    def prepare(home: Path) -> None:
        db = sqlite3.connect(home / "state" / "rotator.db")
        db.execute(sql)
        db.commit()
        db.close()

    return labelled(f"tamper: {sql}", prepare)


VICTIM = "victim.txt"  # a file a planted symbolic link points at; it must stay as it was


def planted_link(lock: str) -> Callable[[Path], None]:
    def prepare(home: Path) -> None:
        (home / VICTIM).write_text("precious, not rotator's\n")
        (home / "state" / lock).unlink(missing_ok=True)
        (home / "state" / lock).symlink_to(home / VICTIM)

    return labelled(f"symlink state/{lock} -> {VICTIM}", prepare)


def copy_master_key(relative: str) -> Callable[[Path], None]:
    def prepare(home: Path) -> None:
        shutil.copy(home / "state" / "master.key", home / relative)

    return labelled(f"copy the master key to {relative}", prepare)


class CannotPrepare(Exception):
    """This machine cannot set the case up (the row is skipped, saying why)."""


def read_only_store(home: Path) -> None:
    store = home / "state" / "rotator.db"
    if os.geteuid() == 0:  # permissions do not stop root; an immutable file does
        try:
            subprocess.run(["chattr", "+i", str(store)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise CannotPrepare(f"cannot make the store immutable here: {exc}") from exc
    else:
        store.chmod(0o400)
        (home / "state").chmod(0o500)


def _undo(home: Path) -> None:
    """Make a case's home removable again."""
    for path in (home / "state", home / "state" / "rotator.db"):
        if path.exists() and not path.is_symlink():
            if os.geteuid() == 0 and path.is_file() and shutil.which("chattr"):
                subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
            path.chmod(stat.S_IRWXU)


# -- the table -------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input and what rotator must answer."""

    group: str
    argv: tuple[str, ...]
    code: int
    says: str = ""
    config: str | bytes | None = None
    env: Mapping[str, str | None] = field(default_factory=dict)
    stdin: bytes | None = None
    prepare: tuple[Callable[[Path], None], ...] = ()
    usage: bool = False
    # A hostile peer in front of the sandbox: (mode, method, path, options as pairs).
    peer: tuple[str, str | None, str, tuple[tuple[str, object], ...]] | None = None
    # Compare what the store means, not its bytes: a failed rotation rightly records
    # its failure, the key in use (with its real age) and its plan (to clean up).
    logical: bool = False


def token(text: str | bytes, code: int = 2, says: str = "not a DigitalOcean API token") -> Case:
    raw = text.encode() if isinstance(text, str) else text
    return Case("token", ("connection", "add", "new", "--token-stdin"), code, says, stdin=raw)


def new_token(text: str | bytes, says: str = "not a DigitalOcean API token") -> Case:
    raw = text.encode() if isinstance(text, str) else text
    argv = ("connection", "update", "prod", "--token-stdin")
    return Case("token", argv, 2, says, stdin=raw)


def name(value: str, says: str = "invalid connection name", code: int = 2) -> Case:
    argv = ("connection", "add", value, "--token-stdin")
    return Case("name", argv, code, says, stdin=b"{good_token}")


def lookup(*argv: str, says: str = "no connection named", code: int = 2) -> Case:
    return Case("name", argv, code, says)


def config(text: str | bytes, says: str, *prepare: Callable[[Path], None]) -> Case:
    return Case("config", ("status",), 2, says, config=text, prepare=prepare)


def checked(text: str, says: str, *prepare: Callable[[Path], None]) -> Case:
    """A config whose problem `config check` must find (secret files are read only there)."""
    return Case("config", ("config", "check", "--offline"), 2, says, config=text, prepare=prepare)


def config_path(path: str, says: str, *prepare: Callable[[Path], None]) -> Case:
    return Case("config", ("status",), 2, says, env={"ROTATOR_CONFIG": path}, prepare=prepare)


def environment(variables: Mapping[str, str | None], says: str, code: int = 2) -> Case:
    return Case("environment", ("status",), code, says, env=variables)


def master_key(
    variables: Mapping[str, str | None], says: str, *prepare: Callable[[Path], None]
) -> Case:
    argv = ("connection", "show", "prod")
    return Case("master key", argv, 2, says, env=variables, prepare=prepare)


def key_file(says: str, *prepare: Callable[[Path], None]) -> Case:
    return master_key({"ROTATOR_MASTER_KEY_FILE": "{home}/bad.key"}, says, *prepare)


def credential(says: str, *prepare: Callable[[Path], None]) -> Case:
    """A master key in systemd's credentials directory (no mode check there)."""
    return master_key({"CREDENTIALS_DIRECTORY": "{home}/creds"}, says, *prepare)


def store(
    says: str, *prepare: Callable[[Path], None], argv: tuple[str, ...] = ("status",), code: int = 1
) -> Case:
    return Case("store", argv, code, says, prepare=prepare)


def under_writers(
    says: str, code: int, *prepare: Callable[[Path], None], but: str = ""
) -> list[Case]:
    """The same bad store under every writer command (*but* one): one row each."""
    return [
        Case("store", argv, code, says, config=cfg, stdin=stdin, prepare=(*prepare, *needs))
        for argv, stdin, cfg, needs in WRITERS
        if argv[0] != but
    ]


def tampered(sql: str, says: str, *argv: str, config: str | None = None) -> Case:
    return Case("store", argv, 1, says, config=config, prepare=(tamper(sql),))


def lock_link(lock: str, *argv: str, config: str | None = None) -> Case:
    return Case("lock", argv, 2, "symbolic link", config=config, prepare=(planted_link(lock),))


def hostile(
    mode: str,
    path: str,
    says: str,
    *argv: str,
    method: str | None = None,
    **options: object,
) -> Case:
    """A peer that misbehaves on *path*; `connection add` or `rotate media` meets it."""
    rotate = argv[0] == "rotate"
    return Case(
        "peer",
        argv,
        1,
        says,
        config=ROTATE_CONFIG if rotate else None,
        stdin=None if rotate else b"{good_token}",
        peer=(mode, method, path, tuple(sorted(options.items()))),
        logical=rotate,
    )


def forged_key(value: str) -> Case:
    """The create answer's access key replaced by *value* (``{app_id}``: the demo app's id)."""
    says = "bad answer to POST /v2/spaces/keys"
    return hostile(
        "rewrite",
        "^/v2/spaces/keys$",
        says,
        "rotate",
        "media",
        method="POST",
        pattern=r'"access_key":\s*"[A-Z0-9]+"',
        replacement=f'"access_key": {json.dumps(value)}',
    )


def usage(*argv: str, says: str = "") -> Case:
    return Case("usage", argv, 2, says, usage=True)


def rekey(says: str, *prepare: Callable[[Path], None], code: int = 2) -> Case:
    argv = ("rekey", "--new-key-file", "{home}/new.key")
    return Case("rekey", argv, code, says, prepare=prepare)


def policy(
    extra: str = "", sink: str = "", url: str = '"http://127.0.0.1:1"', **fields: str
) -> str:
    """A valid media policy with one Vault sink, changed by *fields*, *extra*, *sink*, *url*."""
    values = {"name": '"media"', "connection": '"prod"', "spaces_key": '"demo-media"'}
    values.update(fields)
    lines = "".join(f"{key} = {value}\n" for key, value in values.items() if value)
    return (
        f'[[policies]]\n{lines}{extra}\n[[policies.sinks]]\ntype = "vault"\n'
        f'url = {url}\npath = "media"\n{sink or VAULT_TOKEN}\n'
    )


def webhook(line: str) -> str:
    return f'[[alerts]]\ntype = "webhook"\nurl = "http://127.0.0.1:1/hook"\n{line}\n'


def nested(depth: int, opener: str, closer: str) -> str:
    return "a = " + opener * depth + closer * depth + "\n"


def daemon(line: str) -> str:
    return f"[daemon]\n{line}\n"


def secret_file(relative: str, content: bytes | str) -> Callable[[Path], None]:
    return write(relative, content)


VAULT_TOKEN = 'token = "t"'
VAULT_TOKEN_FILE = 'token_file = "{home}/secrets/vault-token"'
NOT_UTF8 = b"\xff\xfe" + CANARY.encode() + b"\x80"

# Every command that writes the store: argv, stdin, config, and what it needs prepared.
Writer = tuple[tuple[str, ...], bytes | None, str | None, tuple[Callable[[Path], None], ...]]
WRITERS: tuple[Writer, ...] = (
    (("init",), None, None, ()),
    (("connection", "add", "new", "--token-stdin"), b"{good_token}", None, ()),
    (("rotate", "media"), None, policy(), ()),
    (("rekey", "--new-key-file", "{home}/new.key"), None, None, (write("new.key", OTHER_KEY),)),
)
ROTATE_CONFIG = DEFAULT_CONFIG + media_policy("{app_id}")
ROTATE = ("rotate", "media")
TIME_EDITED = "UPDATE connections SET token_set_at = 'yesterday'"
JSON_EDITED = "UPDATE audit_log SET detail = '{broken' WHERE id = 2"
TIME_SAYS = "connections row 'prod' (token_set_at) holds 'yesterday', not a UTC time"
JSON_SAYS = "audit_log row 2 (detail) holds '{broken', not JSON text"

CASES: list[Case] = [
    # Tokens piped to `connection add` (and `update`).
    token("not-a-token"),
    token("", says="no token on stdin"),
    token("\n", says="no token on stdin"),
    token("   \t  ", says="no token on stdin"),
    token("dop_v1_" + "A" * 64),
    token("dop_v1_" + "a" * 63),
    token("dop_v1_" + "a" * 65),
    token("dor_v1_" + "a" * 64, says="refresh token"),
    token("dop_v2_" + "a" * 64),
    token("DOP_V1_" + "a" * 64),
    token("dop_v1_" + "g" * 64),
    token("a" * 63),
    token("a" * 65),
    token("dop_v1_" + "a" * 32 + " " + "a" * 32),
    token("Bearer dop_v1_" + "a" * 64),
    token("dop_v1_" + "a" * 64 + "\ndop_v1_" + "b" * 64),
    token("dop_v1_" + "a" * 64 + "\x00"),
    token(b"\xff\xfe\xfd"),
    token("dop_v1_" + "\uff41" * 64),
    token("dop_v1_" + "a" * 64 + "x"),
    token("a" * 100_000, says="far more than a token"),
    token("dop_v1_" + "5" * 64, code=1, says="invalid"),
    token("doo_v1_" + "6" * 64, code=1, says="invalid"),
    token("7" * 64, code=1, says="invalid"),
    token("dop_v1_"),
    token("\x1b[31mdop_v1_" + "a" * 64),
    new_token("not-a-token"),
    new_token("dor_v1_" + "b" * 64, says="refresh token"),
    new_token(b"\xc3\x28"),
    new_token("", says="no token on stdin"),
    # Connection names.
    name("Prod"),
    name("_x"),
    name("a b"),
    name("x" * 64),
    name("dot.name"),
    name("é"),
    name(""),
    name("a/b"),
    name("../etc"),
    name("a\nb"),
    name("a\tb"),
    name("\U0001f600"),
    name("prod "),
    name(" prod"),
    name("a:b"),
    name("$(id)"),
    name("a%2fb"),
    name("con\x7f"),
    name("\u540d\u524d"),
    name("x" * 10_000),
    name("prod", says="already exists"),
    lookup("connection", "show", "nope"),
    lookup("connection", "show", "a\nb"),
    lookup("connection", "show", "../../etc/passwd"),
    lookup("connection", "validate", "'; DROP TABLE connections; --"),
    lookup("connection", "remove", "%s%s%n", "--yes"),
    lookup("connection", "update", "x" * 1000, "--description", "d"),
    lookup("connection", "audit", "nope\r"),
    lookup("rotate", "nope", says="no policy named 'nope'"),
    lookup("rotate", "../media", says="no policy named"),
    lookup("rotate", "media\x1b[2J", says="no policy named"),
    # Config file: TOML syntax.
    config("[daemon", "not valid TOML"),
    config("a = \n", "not valid TOML"),
    config('a = "unterminated\n', "not valid TOML"),
    config("x = 1\nx = 2\n", "not valid TOML"),
    config("[daemon]\n[daemon]\n", "not valid TOML"),
    config("a = 'x' 'y'\n", "not valid TOML"),
    config("= 1\n", "not valid TOML"),
    config("a = 1979-13-01\n", "not valid TOML"),
    config('a = "\\q"\n', "not valid TOML"),
    config("a = [1,,2]\n", "not valid TOML"),
    config("a = {b = 1,}\n", "not valid TOML"),
    config("a.b = 1\na = 2\n", "not valid TOML"),
    config("[[policies]]\n[policies]\n", "not valid TOML"),
    config("a = 0x\n", "not valid TOML"),
    config("a = 1\x00\n", "not valid TOML"),
    # Config file: types and values.
    config(daemon("validate_every = 5"), "daemon.validate_every"),
    config(daemon("validate_every = true"), "daemon.validate_every"),
    config(daemon('concurrency = "x"'), "daemon.concurrency"),
    config(daemon("concurrency = 0"), "daemon.concurrency"),
    config(daemon("concurrency = 65"), "daemon.concurrency"),
    config(daemon("concurrency = 1.5"), "daemon.concurrency"),
    config("[digitalocean]\nretries = -1\n", "digitalocean.retries"),
    config("[digitalocean]\nretries = 11\n", "digitalocean.retries"),
    config('[digitalocean]\ntimeout = "fast"\n', "digitalocean.timeout"),
    config("daemon = 5\n", "daemon"),
    config('policies = "x"\n', "policies"),
    config("policies = [1]\n", "policies[0]"),
    config('alerts = [{type = "pager"}]\n', "alerts[0]"),
    config("connections = []\n", "connections"),
    config("[connections.Prod]\n", "connections"),
    config('[connections.prod]\nextra_scopes = ["nope"]\n', "extra_scopes"),
    config('[connections.prod]\nextra_scopes = "droplet:read"\n', "extra_scopes"),
    config('[connections."a\\nb"]\n', "connections"),
    config(policy(name='"Media"'), "policies[0].name"),
    config(policy(connection='"no such"'), "policies[0].connection"),
    config(policy(spaces_key='""'), "policies[0].spaces_key"),
    config(policy(verify="true"), "verify = true is not available"),
    config(policy() + policy(), "policy name 'media' is used twice"),
    config(policy(sink='token = "t"\ntoken_file = "/x"'), "exactly one of token"),
    config(policy(url='"ftp://x"'), "http:// or https:// URL"),
    config(webhook('secret_file = "/x"\nsecret = "s"'), "not both"),
    config(webhook(""), "set secret or secret_file"),
    config('[[alerts]]\ntype = "webhook"\nurl = "file:///etc/passwd"\nsecret = "s"\n', "URL"),
    config(
        '[[policies]]\nname = "m"\nconnection = "prod"\nspaces_key = "k"\nsinks = []\n', "sinks"
    ),
    # Config file: unknown keys.
    config("foo = 1\n", "foo: unknown key"),
    config(daemon("foo = 1"), "daemon.foo: unknown key"),
    config("[digitalocean]\nfoo = 1\n", "digitalocean.foo: unknown key"),
    config("[connections.prod]\nfoo = 1\n", "unknown key"),
    config(policy(colour='"red"'), "policies[0].colour: unknown key"),
    config(policy(sink='token = "t"\ncolour = "red"'), "colour: unknown key"),
    config(webhook('secret = "s"\ncolour = "red"'), "alerts[0].colour: unknown key"),
    config("[Daemon]\n", "Daemon: unknown key"),
    # Config file: durations.
    config(policy(every='"999999999d"'), "policies[0].every: invalid duration"),
    config(daemon('validate_every = "' + "9" * 30 + 's"'), "longer than the maximum"),
    config(daemon('audit_every = "36501d"'), "longer than the maximum"),
    config(daemon('validate_every = "0s"'), "must be longer than zero"),
    config(daemon('max_token_age = "1y"'), "invalid duration"),
    config(daemon('expiry_warning = "-5m"'), "invalid duration"),
    config(policy(grace='"1.5h"'), "policies[0].grace: invalid duration"),
    config(daemon('alert_reminder = ""'), "invalid duration"),
    config(daemon('validate_every = "5"'), "invalid duration"),
    config(daemon('validate_every = "h"'), "invalid duration"),
    config(daemon('validate_every = "\uff11h"'), "invalid duration"),
    config(daemon('validate_every = "' + "1" * 5000 + 'd"'), "longer than the maximum"),
    config(daemon('validate_every = "99999999999w"'), "longer than the maximum"),
    # Config file: ports and addresses.
    config(daemon('health_listen = "127.0.0.1:70000"'), "daemon.health_listen"),
    config(daemon('health_listen = ":65536"'), "daemon.health_listen"),
    config(daemon('health_listen = "127.0.0.1:99999"'), "daemon.health_listen"),
    config(daemon('health_listen = "127.0.0.1"'), "daemon.health_listen"),
    config(daemon('health_listen = "localhost:port"'), "daemon.health_listen"),
    config(daemon('health_listen = "127.0.0.1:-1"'), "daemon.health_listen"),
    config(daemon('health_listen = "[::1]:70000"'), "daemon.health_listen"),
    config(daemon('health_listen = "127.0.0.1:123456"'), "daemon.health_listen"),
    # Config file: nesting and size.
    config(nested(3000, "[", "]"), "nested too deeply"),
    config(nested(3000, "{b = ", "}"), "nested too deeply"),
    config("a = " + "[" * 50 + "]" * 50 + "\n", "a: unknown key"),
    config("# " + "x" * (1024 * 1024) + "\n", "larger than 1 MiB"),
    config(b"[daemon]\nvalidate_every = '\xff'\n", "not UTF-8"),
    config(b"\xef\xbb\xbf[daemon]\n", "not valid TOML"),
    # Config file: what the path points at.
    config_path("/dev/zero", "character device, not a regular file"),
    config_path("{home}/pipe.toml", "FIFO (named pipe), not a regular file", fifo("pipe.toml")),
    config_path("{home}/confdir", "a directory, not a regular file", directory("confdir")),
    config_path("{home}/absent.toml", "no such file"),
    config_path("{home}/link.toml", "character device", symlink("link.toml", "/dev/zero")),
    config_path("/dev/null", "character device, not a regular file"),
    config_path("{home}/loop.toml", "cannot read", symlink("loop.toml", "loop.toml")),
    Case("config", ("--config", "{home}/pipe", "status"), 2, "FIFO", prepare=(fifo("pipe"),)),
    Case("config", ("--config", "/dev/zero", "status"), 2, "character device"),
    # Config file: secret files, read as the daemon will (by `config check`).
    checked(policy(sink=VAULT_TOKEN_FILE), "a directory", directory("secrets/vault-token")),
    checked(policy(sink=VAULT_TOKEN_FILE), "it is empty", secret_file("secrets/vault-token", "")),
    checked(policy(sink=VAULT_TOKEN_FILE), "empty", secret_file("secrets/vault-token", " \n\n")),
    checked(
        policy(sink=VAULT_TOKEN_FILE), "not UTF-8", secret_file("secrets/vault-token", NOT_UTF8)
    ),
    checked(policy(sink=VAULT_TOKEN_FILE), "FIFO", fifo("secrets/vault-token")),
    checked(
        policy(sink=VAULT_TOKEN_FILE),
        "character device",
        symlink("secrets/vault-token", "/dev/zero"),
    ),
    checked(policy(sink=VAULT_TOKEN_FILE), "no such file"),
    checked(
        policy(sink=VAULT_TOKEN_FILE),
        "larger than 64 KiB",
        secret_file("secrets/vault-token", CANARY * 10_000),
    ),
    checked(policy(sink='token_file = "/tmp/x\\u0000y"'), "NUL character"),
    checked(
        webhook('secret_file = "{home}/secrets/hook"'), "a directory", directory("secrets/hook")
    ),
    checked(
        webhook('secret_file = "{home}/secrets/hook"'), "empty", secret_file("secrets/hook", "")
    ),
    checked('[[alerts]]\ntype = "slack"\nurl_file = "{home}/s"\n', "FIFO", fifo("s")),
    checked(
        policy(sink='approle = { role_id = "r", secret_id_file = "{home}/sid" }'),
        "a directory",
        directory("sid"),
    ),
    checked(policy(sink='token = "t"\nca_cert = "{home}/ca"'), "a directory", directory("ca")),
    Case(
        "config",
        ("alerts", "test"),
        2,
        "signing secret: cannot read",
        config=webhook('secret_file = "{home}/hook"'),
        prepare=(fifo("hook"),),
    ),
    Case(
        "config",
        ("alerts", "test"),
        2,
        "not UTF-8",
        config=webhook('secret_file = "{home}/hook"'),
        prepare=(secret_file("hook", NOT_UTF8),),
    ),
    Case(
        "config",
        ("rotate", "media"),
        2,
        "ca_cert: cannot read",
        config=policy(sink='token = "t"\nca_cert = "{home}/ca"'),
        prepare=(fifo("ca"),),
    ),
    # Environment.
    environment({"ROTATOR_MASTER_KEY": ""}, "ROTATOR_MASTER_KEY: set but empty"),
    environment({"ROTATOR_MASTER_KEY": "   "}, "ROTATOR_MASTER_KEY: set but empty"),
    environment({"ROTATOR_STATE_DIR": ""}, "ROTATOR_STATE_DIR: set but empty"),
    environment({"ROTATOR_CONFIG": ""}, "ROTATOR_CONFIG: set but empty"),
    environment({"ROTATOR_MASTER_KEY_FILE": ""}, "ROTATOR_MASTER_KEY_FILE: set but empty"),
    environment({"ROTATOR_DO_API_URL": ""}, "ROTATOR_DO_API_URL: set but empty"),
    environment({"ROTATOR_FOO": "1"}, "ROTATOR_FOO: unknown variable"),
    environment({"ROTATOR_STATE_DIRECTORY": "/x"}, "ROTATOR_STATE_DIRECTORY: unknown variable"),
    environment({"ROTATOR_DO_API_URL": "ftp://x"}, "ROTATOR_DO_API_URL"),
    environment({"ROTATOR_DO_API_URL": "not a url"}, "ROTATOR_DO_API_URL"),
    environment({"ROTATOR_DO_API_URL": "http://"}, "ROTATOR_DO_API_URL"),
    environment({"ROTATOR_DO_API_URL": "https://a b"}, "ROTATOR_DO_API_URL"),
    environment({"ROTATOR_DO_OAUTH_URL": "javascript:alert(1)"}, "ROTATOR_DO_OAUTH_URL"),
    environment({"ROTATOR_DO_REGISTRY_URL": "file:///etc/passwd"}, "ROTATOR_DO_REGISTRY_URL"),
    environment({"ROTATOR_DO_REGISTRY_URL": "http://registry.example"}, "plain http only on"),
    environment({"ROTATOR_DO_REGISTRY_URL": ""}, "ROTATOR_DO_REGISTRY_URL: set but empty"),
    environment({"ROTATOR_LOG_LEVEL": "LOUD"}, "ROTATOR_LOG_LEVEL"),
    environment({"ROTATOR_LOG_LEVEL": "debug"}, "ROTATOR_LOG_LEVEL"),
    environment({"ROTATOR_LOG_FORMAT": "xml"}, "ROTATOR_LOG_FORMAT"),
    environment({"ROTATOR_MASTER_KEY": OTHER_KEY, "ROTATOR_MASTER_KEY_FILE": "/k"}, "not both"),
    environment({"ROTATOR_CONFIG": "/nonexistent/rotator.toml"}, "no such file"),
    environment({"ROTATOR_STATE_DIR": "/dev/null"}, "/dev/null/master.key: Not a directory"),
    environment({"ROTATOR_STATE_DIR": "{home}/nowhere"}, "run `rotator init`"),
    environment({"ROTATOR_DO_API_URL": "http://127.0.0.1:1/\nx"}, "ROTATOR_DO_API_URL"),
    # The master key.
    master_key({"ROTATOR_MASTER_KEY": "short"}, "ROTATOR_MASTER_KEY does not hold a master key"),
    master_key({"ROTATOR_MASTER_KEY": "!!!not base64!!!"}, "does not hold a master key"),
    master_key({"ROTATOR_MASTER_KEY": base64.b64encode(b"k" * 31).decode()}, "does not hold"),
    master_key({"ROTATOR_MASTER_KEY": base64.b64encode(b"k" * 33).decode()}, "does not hold"),
    master_key({"ROTATOR_MASTER_KEY": OTHER_KEY}, "does not open this store"),
    master_key({"ROTATOR_MASTER_KEY": "A" * 100_000}, "does not hold a master key"),
    master_key({"ROTATOR_MASTER_KEY": "\u00e9" * 44}, "does not hold a master key"),
    key_file("not found"),
    key_file("a directory, not a regular file", directory("bad.key")),
    key_file("FIFO (named pipe), not a regular file", fifo("bad.key")),
    key_file("does not hold a master key", write("bad.key", "")),
    key_file("not UTF-8", write("bad.key", NOT_UTF8)),
    key_file("larger than 64 KiB", write("bad.key", "A" * (1024 * 1024))),
    key_file("does not hold a master key", write("bad.key", "c2hvcnQ=\n")),
    key_file("open to other users", write("bad.key", OTHER_KEY, mode=0o644)),
    key_file("does not open this store", write("bad.key", OTHER_KEY)),
    credential("character device", symlink("creds/master-key", "/dev/zero")),
    credential("FIFO", fifo("creds/master-key", mode=0o644)),
    credential("a directory", directory("creds/master-key")),
    credential("not found", directory("creds")),
    # The store.
    store("rotator.db", replace_store(Path.mkdir)),
    store(
        "rotator.lock",
        replace_with_directory("state/rotator.lock"),
        argv=("connection", "remove", "prod", "--yes"),
        code=2,  # an unsafe lock file is the operator's to fix, like a bad setting
    ),
    store("readonly", read_only_store, argv=("connection", "remove", "prod", "--yes")),
    store("not a rotator store", replace_store(garbage)),
    store("not a rotator store", replace_store(foreign_sqlite)),
    store("newer than this rotator", newer_store),
    store("", replace_store(Path.touch)),
    store("", truncated_store),
    # (`init` sets a zero-byte store up: it holds nothing, and init is what the others name.)
    *under_writers("zero bytes", 1, replace_store(Path.touch), but="init"),
    *under_writers("not a rotator store", 1, replace_store(foreign_sqlite)),
    *under_writers("rotator.db", 1, replace_store(Path.mkdir)),
    tampered(TIME_EDITED, TIME_SAYS, "connection", "list"),
    tampered(TIME_EDITED, TIME_SAYS, "connection", "show", "prod"),
    tampered(TIME_EDITED, TIME_SAYS, "status"),
    tampered(TIME_EDITED, TIME_SAYS, "rotate", "media", config=policy()),
    tampered(JSON_EDITED, JSON_SAYS, "history"),
    tampered(JSON_EDITED, JSON_SAYS, "history", "--json"),
    tampered(JSON_EDITED, JSON_SAYS, "history", "--subject", "prod"),
    # Lock files: a planted symbolic link is refused, its target left as it was.
    lock_link("rotator.lock", "connection", "remove", "prod", "--yes"),
    lock_link("rotator.lock", "connection", "add", "new", "--token-stdin"),
    lock_link("policy-media.lock", "rotate", "media", config=policy()),
    lock_link("daemon.lock", "run", "--once"),
    Case(
        "store",
        ("rotate", "media"),
        2,
        "policy-media.lock",
        config=policy(),
        prepare=(replace_with_directory("state/policy-media.lock"),),
    ),
    store(
        "daemon.lock", replace_with_directory("state/daemon.lock"), argv=("run", "--once"), code=2
    ),
    # A hostile DigitalOcean: every answer that is not one fails the command, changes nothing.
    # (`connection add` stores a token it could not validate as unknown, by design.)
    hostile("garbage", "^/v2/spaces/keys$", "not valid HTTP", *ROTATE, method="POST"),
    hostile("garbage", "^/v2/spaces/keys$", "not valid HTTP", *ROTATE, method="GET"),
    hostile("close", "^/v2/spaces/keys$", "connection dropped", *ROTATE, method="GET"),
    hostile("close", "^/v2/spaces/keys$", "connection dropped", *ROTATE, method="POST"),
    hostile("oversized", "^/v2/spaces/keys$", "larger than 8 MiB", *ROTATE),
    hostile("oversized", "^/v2/spaces/keys$", "larger than 8 MiB", *ROTATE, declare=True),
    forged_key("../../apps/{app_id}"),
    forged_key("DO00ABCDEF?name=x"),
    forged_key("DO00%2f..%2fapps"),
    forged_key("DO00ABCDEF\nforged: rotation succeeded"),
    # The command line.
    usage("bogus", says="invalid choice"),
    usage("--bogus", says="the following arguments are required"),
    usage("status", "--bogus", says="unrecognized arguments: --bogus"),
    usage("connection", says="the following arguments are required"),
    usage("connection", "bogus", says="invalid choice"),
    usage("connection", "add", says="the following arguments are required: NAME"),
    usage("connection", "show", says="the following arguments are required: NAME"),
    usage("rotate", says="the following arguments are required: POLICY"),
    usage("config", says="the following arguments are required"),
    usage("config", "bogus", says="invalid choice"),
    usage("history", "--limit", "abc", says="invalid int value"),
    usage("history", "--limit", says="expected one argument"),
    usage("--config", says="expected one argument"),
    usage("connection", "add", "x", "--token-stdin", "extra", says="unrecognized arguments: extra"),
    usage("alerts", "bogus", says="invalid choice"),
    usage("demo", "--bogus", says="unrecognized arguments"),
    usage("init", "extra", says="unrecognized arguments"),
    usage("connection", "add", "prod", TYPED_TOKEN, says="looks like a DigitalOcean API token"),
    usage("connection", "add", TYPED_TOKEN, "--token-stdin", says="<redacted token>"),
    usage("connection", "add", "x", "--description", TYPED_TOKEN, says="--token-stdin"),
    usage("connection", "add", "x", f"--description=my token is {TYPED_TOKEN}", says="token"),
    usage("history", "--subject", "doo_v1_" + HEX, says="<redacted token>"),
    usage("rotate", HEX, says="<redacted token>"),
    usage("connection", "show", "DOP_V1_" + HEX.upper(), says="<redacted token>"),
    usage(f"--config={TYPED_TOKEN}", "status", says="<redacted token>"),
    usage("connection", "add", "prod", "dor_v1_" + HEX, says="<redacted token>"),
    usage("connection", "validate", HEX, HEX[::-1], says="<redacted token>"),
    usage(TYPED_TOKEN, says="<redacted token>"),
    usage("connection", "add", "x", TYPED_TOKEN[:30], says="<redacted token>"),
    # rekey --new-key-file.
    rekey("a directory, not a regular file", directory("new.key")),
    rekey("FIFO (named pipe), not a regular file", fifo("new.key")),
    rekey("does not hold a master key", write("new.key", "garbage\n")),
    rekey("not UTF-8", write("new.key", NOT_UTF8)),
    rekey("open to other users", write("new.key", OTHER_KEY, mode=0o666)),
    rekey("holds the current master key", copy_master_key("new.key")),
]


# -- running the table -------------------------------------------------------------


@dataclass
class Outcome:
    code: int | None
    stdout: str
    stderr: str
    before: dict[str, bytes | str]
    after: dict[str, bytes | str]
    canaries: list[str]
    skipped: str = ""


def _meaning(store: Path) -> str:
    """What a failed rotation must leave alone: the connections, and every key promoted."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        rows = [
            *db.execute("SELECT * FROM connections ORDER BY id"),
            *db.execute("SELECT current_access_key FROM policy_keys WHERE current_rotation_id"),
            *db.execute("SELECT previous_access_key FROM policy_keys WHERE previous_access_key"),
            *db.execute("SELECT new_access_key FROM rotations WHERE new_access_key IS NOT NULL"),
        ]
    finally:
        db.close()
    return repr(rows)


def _snapshot(home: Path, *, logical: bool = False) -> dict[str, bytes | str]:
    """The bytes of the store and the master key file (or what stands there instead)."""
    found: dict[str, bytes | str] = {}
    for name in ("state/rotator.db", "state/master.key", VICTIM):
        path = home / name
        if logical and name == "state/rotator.db":
            found[name] = _meaning(path)
        elif path.is_dir():
            found[name] = "<directory>"
        elif path.exists():
            found[name] = path.read_bytes()
        else:
            found[name] = "<absent>"
    return found


@dataclass
class World:
    sandbox: Sandbox
    template: Path
    registered_token: str
    good_token: str
    master_key: str
    app_id: str = ""


def _env(home: Path, world: World, case: Case) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ROTATOR_STATE_DIR": str(home / "state"),
        "ROTATOR_CONFIG": str(home / "rotator.toml"),
        "ROTATOR_DO_API_URL": world.sandbox.url,
        "ROTATOR_DO_OAUTH_URL": world.sandbox.url,
    }
    for variable, value in case.env.items():
        if value is None:
            env.pop(variable, None)
        else:
            env[variable] = value.replace("{home}", str(home))
    return env


def _peer(world: World, case: Case) -> HostileProxy | None:
    """The case's own hostile proxy in front of the shared sandbox, started."""
    if case.peer is None:
        return None
    mode, method, path, pairs = case.peer
    options = {
        k: v.replace("{app_id}", world.app_id) if isinstance(v, str) else v for k, v in pairs
    }
    proxy = HostileProxy(world.sandbox.url).start()
    proxy.add(mode, method=method, path=path, **options)
    return proxy


def _run(world: World, index: int, case: Case, base: Path) -> Outcome:
    home = base / f"case-{index:03d}"
    shutil.copytree(world.template, home, symlinks=True)
    proxy: HostileProxy | None = None
    try:
        text = DEFAULT_CONFIG if case.config is None else case.config
        if isinstance(text, str):
            raw = text.replace("{home}", str(home)).replace("{app_id}", world.app_id).encode()
        else:
            raw = text
        (home / "rotator.toml").write_bytes(raw)
        try:
            for prepare in case.prepare:
                prepare(home)
        except CannotPrepare as exc:
            return Outcome(None, "", "", {}, {}, [], skipped=str(exc))
        except OSError as exc:  # reported by the row's test, not by every row
            return Outcome(None, "", f"the case could not be prepared: {exc!r}", {}, {}, [])
        before = _snapshot(home, logical=case.logical)
        stdin = case.stdin
        if stdin is not None:
            stdin = stdin.replace(b"{good_token}", world.good_token.encode())
        env = _env(home, world, case)
        proxy = _peer(world, case)
        if proxy is not None:
            env["ROTATOR_DO_API_URL"] = env["ROTATOR_DO_OAUTH_URL"] = proxy.url
        try:
            completed = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "rotator",
                    *(a.replace("{home}", str(home)) for a in case.argv),
                ],
                input=stdin if stdin is not None else b"",
                capture_output=True,
                env=env,
                cwd=home,
                timeout=60,
                check=False,
            )
            code: int | None = completed.returncode
            stdout = completed.stdout.decode(errors="replace")
            stderr = completed.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired as exc:
            code, stdout, stderr = None, "", f"timed out after {exc.timeout} s"
        after = _snapshot(home, logical=case.logical)
    finally:
        _undo(home)
        if proxy is not None:
            proxy.stop()
    canaries = [world.registered_token, world.good_token, world.master_key, CANARY, TYPED_TOKEN]
    canaries += [HEX, HEX.upper(), HEX[::-1]]
    if case.stdin and case.group == "token" and len(case.stdin) >= 16:
        canaries.append(case.stdin.decode(errors="replace").strip())
    return Outcome(code, stdout, stderr, before, after, canaries)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A sandbox and a template home: an initialised store with `prod` registered."""
    with Sandbox(deployment_step_seconds=0.05) as sandbox:
        template = tmp_path_factory.mktemp("template")
        registered = sandbox.add_token(ROTATION_SCOPES)  # `rotate media` rows need them
        case = Case("setup", (), 0)
        env = _env(template, World(sandbox, template, "", "", ""), case)
        (template / "rotator.toml").write_text(DEFAULT_CONFIG)
        for argv, stdin in (
            (["init"], ""),
            (["connection", "add", "prod", "--token-stdin"], registered),
        ):
            subprocess.run(
                [sys.executable, "-m", "rotator", *argv],
                input=stdin,
                text=True,
                env=env,
                check=True,
                capture_output=True,
            )
        master = (template / "state" / "master.key").read_text().strip()
        good = sandbox.add_token(["account:read"])
        yield World(sandbox, template, registered, good, master, sandbox.app_ids()[0])


@pytest.fixture(scope="module")
def outcomes(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Outcome]:
    """Every row run once, four processes at a time."""
    base = tmp_path_factory.mktemp("cases")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {i: pool.submit(_run, world, i, case, base) for i, case in enumerate(CASES)}
        return {i: future.result() for i, future in futures.items()}


def _case_id(case: Case) -> str:
    shown = " ".join(case.argv) if case.group in ("usage", "name") else case.says
    return f"{case.group}:{shown[:40]!r}"


def test_the_matrix_holds_at_least_150_distinct_bad_inputs():
    keys = {
        (
            c.argv,
            c.config,
            tuple(sorted(c.env.items())),
            c.stdin,
            c.peer,
            tuple(getattr(p, "label", p.__name__) for p in c.prepare),
        )
        for c in CASES
    }
    assert len(CASES) >= 150
    assert len(keys) == len(CASES)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[_case_id(c) for c in CASES])
def test_a_bad_input_gets_one_clear_line_and_changes_nothing(outcomes, index):
    case = CASES[index]
    outcome = outcomes[index]
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    output = outcome.stdout + outcome.stderr
    assert outcome.code == case.code, output
    assert "Traceback" not in output
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if case.usage:
        assert lines and lines[0].startswith("usage: rotator"), outcome.stderr
        errors = [line for line in lines if line.startswith("rotator") and ": error: " in line]
    else:
        errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, outcome.stderr
    assert case.says in errors[0], errors[0]
    for canary in outcome.canaries:
        assert canary not in output, "a secret reached the output"
    assert outcome.after == outcome.before, "the store or the master key changed"
