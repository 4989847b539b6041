import os

import pytest

from rotator.crypto import Keyring, MasterKey, load_master_key, token_hash, write_key_file
from rotator.errors import MasterKeyError, RecordTampered
from rotator.secret import Secret

CANARY = "dop_v1_" + "c0ffee" * 10 + "abcd"


def key() -> MasterKey:
    return MasterKey.from_text(MasterKey.generate_text(), "test")


def test_a_sealed_secret_opens_only_under_its_own_identity():
    ring = Keyring(key())
    envelope = ring.seal(Secret(CANARY), "connection/a/token")
    assert CANARY not in envelope
    assert ring.open(envelope, "connection/a/token").reveal() == CANARY
    with pytest.raises(RecordTampered, match="moved from another record"):
        ring.open(envelope, "connection/b/token")


def test_sealing_twice_gives_different_ciphertexts():
    ring = Keyring(key())
    assert ring.seal(Secret("x"), "id") != ring.seal(Secret("x"), "id")


def test_a_flipped_byte_is_detected_not_decrypted_to_garbage():
    ring = Keyring(key())
    envelope = ring.seal(Secret(CANARY), "id")
    body = envelope.split(".")[2]
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    with pytest.raises(RecordTampered):
        ring.open(envelope.replace(body, flipped), "id")


def test_a_wrong_master_key_is_named_by_key_id_not_reported_as_tampering():
    envelope = Keyring(key()).seal(Secret("x"), "id")
    other = key()
    with pytest.raises(MasterKeyError, match=f"key given has id {other.key_id}"):
        Keyring(other).open(envelope, "id")


def test_a_keyring_with_two_keys_opens_both_and_seals_with_the_primary():
    old, new = key(), key()
    old_envelope = Keyring(old).seal(Secret("x"), "id")
    ring = Keyring(new, old)
    assert ring.open(old_envelope, "id").reveal() == "x"
    assert ring.key_id_of(ring.seal(Secret("y"), "id")) == new.key_id


def test_token_hash_is_plain_sha256_hex_as_sha256sum_prints_it():
    assert token_hash(Secret("abc")) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_key_files_are_created_0600_and_never_overwritten(tmp_path):
    path = tmp_path / "state" / "master.key"
    write_key_file(path, MasterKey.generate_text())
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    first = path.read_text()
    with pytest.raises(FileExistsError):
        write_key_file(path, MasterKey.generate_text())
    assert path.read_text() == first
    assert load_master_key(value=None, path=path).key_id


def test_a_key_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "master.key"
    write_key_file(path, MasterKey.generate_text())
    os.chmod(path, 0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_master_key(value=None, path=path)


def test_a_missing_or_malformed_key_says_what_to_do(tmp_path):
    with pytest.raises(MasterKeyError, match="rotator init"):
        load_master_key(value=None, path=tmp_path / "absent")
    with pytest.raises(MasterKeyError, match="base64"):
        load_master_key(value=Secret("not a key"), path=tmp_path / "absent")


def test_a_systemd_credential_is_trusted_whatever_its_mode_shows(tmp_path):
    # systemd >= 256 grants a dynamic user its credential by ACL: the mode reads 0440.
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    path = credentials / "master-key"
    write_key_file(path, MasterKey.generate_text())
    os.chmod(path, 0o440)
    assert load_master_key(value=None, path=path, credentials_directory=credentials).key_id
    with pytest.raises(MasterKeyError, match="open to other users"):
        load_master_key(value=None, path=path)
    with pytest.raises(MasterKeyError, match="open to other users"):
        load_master_key(value=None, path=path, credentials_directory=tmp_path)
