"""`rotator rekey`: every record moves to a new master key, and a crash cannot lose the store."""

import json
import subprocess
import sys

from tests.support.cli import assert_one_line_error

SCOPES = ["account:read"]


def test_rekey_reseals_every_record_and_replaces_the_key_file(initialised, sandbox):
    initialised.add("a", sandbox.add_token(SCOPES))
    initialised.add("b", sandbox.add_token(SCOPES))
    key_file = initialised.state_dir / "master.key"
    old_key = key_file.read_text()
    result = initialised("rekey")
    assert result.code == 0, result.output
    assert "re-sealed 2 records" in result.stdout
    assert key_file.read_text() != old_key
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert not (initialised.state_dir / "master.key.new").exists()
    assert initialised("connection", "validate", "--all").code == 0
    events = [e["event"] for e in json.loads(initialised("history", "--json").stdout)]
    assert "store_rekeyed" in events


def test_a_rekey_interrupted_after_resealing_keeps_working_and_finishes_on_rerun(
    initialised, sandbox
):
    initialised.add("a", sandbox.add_token(SCOPES))
    state = initialised.state_dir
    # What a crash between the commit and the key file swap leaves behind.
    script = (
        "import sys; from pathlib import Path\n"
        "from rotator.crypto import Keyring, MasterKey, load_master_key, write_key_file\n"
        "from rotator.store import Store\n"
        "state = Path(sys.argv[1])\n"
        "write_key_file(state / 'master.key.new', MasterKey.generate_text())\n"
        "old = load_master_key(value=None, path=state / 'master.key')\n"
        "new = load_master_key(value=None, path=state / 'master.key.new')\n"
        "with Store.open(state, Keyring(old), writer=True) as store:\n"
        "    store.reseal_all(Keyring(new))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(state)], check=True)
    new_key = (state / "master.key.new").read_text()
    assert initialised("connection", "validate", "a").code == 0
    finished = initialised("rekey")
    assert finished.code == 0, finished.output
    assert (state / "master.key").read_text() == new_key
    assert not (state / "master.key.new").exists()
    assert initialised("connection", "validate", "a").code == 0


def test_a_key_from_the_environment_needs_a_place_for_the_new_key(rotator, sandbox, tmp_path):
    key = subprocess.run(
        [
            sys.executable,
            "-c",
            "from rotator.crypto import MasterKey; print(MasterKey.generate_text().reveal())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    rotator.env["ROTATOR_MASTER_KEY"] = key
    assert rotator("init").code == 0
    assert not (rotator.state_dir / "master.key").exists()
    rotator.add("a", sandbox.add_token(SCOPES))
    before = rotator.dump()
    assert_one_line_error(rotator("rekey"), 2, "--new-key-file")
    assert rotator.dump() == before
    new_file = tmp_path / "new.key"
    result = rotator("rekey", "--new-key-file", str(new_file))
    assert result.code == 0, result.output
    assert key not in result.output
    assert new_file.stat().st_mode & 0o777 == 0o600
    assert_one_line_error(rotator("connection", "list"), 2, "does not open this store")
    rotator.env["ROTATOR_MASTER_KEY"] = new_file.read_text().strip()
    assert rotator("connection", "validate", "a").code == 0
