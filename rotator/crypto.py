"""The master keyring and the sealed envelopes secrets are stored in.

A master key is 32 random bytes, written as one line of base64. rotator never
uses it directly: HKDF-SHA256 derives the AES-256-GCM key and a public key id
from it, so the id can sit in every envelope without saying anything about
the key.

An envelope is ``rtr1.<key id>.<base64url(nonce || ciphertext || tag)>``
with a fresh 96-bit nonce per seal. The caller's *identity* string (for
example ``connection/<uuid>/token``) is the associated data: a ciphertext
copied into another record fails to open. A keyring may hold several keys
(during ``rotator rekey``); it seals with its primary key and opens with
whichever key the envelope names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from rotator import files
from rotator.errors import MasterKeyError, RecordTampered, UnreadableFile
from rotator.secret import Secret

KEY_BYTES = 32
NONCE_BYTES = 12
ENVELOPE_PREFIX = "rtr1"


def _derive(master: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(master)


def token_hash(token: Secret) -> str:
    """SHA-256 hex of a token, exactly what ``printf %s TOKEN | sha256sum`` prints."""
    return hashlib.sha256(token.reveal().encode()).hexdigest()


@dataclass(frozen=True, repr=False)
class MasterKey:
    """One master key and what is derived from it."""

    key_id: str
    _aead: AESGCM

    @classmethod
    def from_bytes(cls, raw: bytes) -> MasterKey:
        if len(raw) != KEY_BYTES:
            raise MasterKeyError(f"a master key is {KEY_BYTES} bytes; this one is {len(raw)}")
        key_id = _derive(raw, b"rotator/key-id/v1", 8).hex()
        return cls(key_id, AESGCM(_derive(raw, b"rotator/aes-256-gcm/v1", KEY_BYTES)))

    @classmethod
    def from_text(cls, text: Secret, source: str) -> MasterKey:
        """Parse the base64 line of a key file or ``ROTATOR_MASTER_KEY``."""
        value = text.reveal().strip()
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != KEY_BYTES:
            raise MasterKeyError(
                f"{source} does not hold a master key "
                f"(expected {KEY_BYTES} bytes as one line of base64, as `rotator init` writes)"
            )
        return cls.from_bytes(raw)

    @staticmethod
    def generate_text() -> Secret:
        """A new random master key as the base64 line a key file holds."""
        return Secret(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode())

    def __repr__(self) -> str:
        return f"MasterKey(id={self.key_id})"


class Keyring:
    """The master keys that can open envelopes; the first one seals."""

    def __init__(self, primary: MasterKey, *others: MasterKey) -> None:
        self.primary = primary
        self._keys = {key.key_id: key for key in (*others, primary)}

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, plaintext: Secret, identity: str) -> str:
        """Encrypt a secret for the record named by ``identity``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.primary._aead.encrypt(nonce, plaintext.reveal().encode(), identity.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{ENVELOPE_PREFIX}.{self.primary.key_id}.{body}"

    def key_id_of(self, envelope: str) -> str:
        parts = envelope.split(".")
        if len(parts) != 3 or parts[0] != ENVELOPE_PREFIX:
            raise RecordTampered("a sealed value is not a rotator envelope")
        return parts[1]

    def open(self, envelope: str, identity: str) -> Secret:
        """Decrypt an envelope sealed for ``identity``.

        Raises MasterKeyError when no key in the ring has the envelope's key id
        and RecordTampered when the envelope fails authentication.
        """
        key_id = self.key_id_of(envelope)
        key = self._keys.get(key_id)
        if key is None:
            raise MasterKeyError(
                f"the master key does not open this store (the store was sealed with key id "
                f"{key_id}; the key given has id {self.primary.key_id})"
            )
        body = envelope.split(".")[2]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
            plaintext = key._aead.decrypt(nonce, sealed, identity.encode())
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise RecordTampered(
                f"{identity}: the sealed value failed authentication "
                "(it was altered or moved from another record)"
            ) from exc
        return Secret(plaintext.decode())


def check_key_file_mode(path: Path) -> None:
    """Refuse a key file that anyone but its owner can read or write."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise MasterKeyError(
            f"master key file {path} is open to other users (mode {mode:04o}); "
            f"run `chmod 600 {path}`"
        )


def load_master_key(
    *, value: Secret | None, path: Path, credentials_directory: Path | None = None
) -> MasterKey:
    """The master key from ``ROTATOR_MASTER_KEY`` if set, else from its file.

    A file in systemd's ``$CREDENTIALS_DIRECTORY`` skips the mode check:
    systemd alone decides who reads it, and since systemd 256 it grants a
    dynamic user access through an ACL, which shows as mode 0440.
    """
    if value is not None:
        return MasterKey.from_text(value, "ROTATOR_MASTER_KEY")
    try:
        if credentials_directory is None or path.parent.resolve() != (
            credentials_directory.resolve()
        ):
            check_key_file_mode(path)
        text = files.read_text(path, what="master key file", source="master key")
    except (FileNotFoundError, UnreadableFile) as exc:
        if isinstance(exc, UnreadableFile) and not exc.missing:
            raise MasterKeyError(exc.problems[0]) from exc
        raise MasterKeyError(
            f"master key file {path} not found; run `rotator init` or set ROTATOR_MASTER_KEY"
        ) from exc
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise MasterKeyError(f"cannot read master key file {path}: {reason}") from exc
    return MasterKey.from_text(Secret(text), f"master key file {path}")


def write_key_file(path: Path, key_text: Secret) -> None:
    """Create a 0600 key file atomically; never overwrite an existing one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(key_text.reveal() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # fails if the key file appeared meanwhile
    finally:
        temporary.unlink(missing_ok=True)
