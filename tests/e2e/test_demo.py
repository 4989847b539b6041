"""`rotator demo` as a newcomer runs it: one command, no account, no network, exit 0."""

import re
import subprocess
import sys

from rotator.sandbox.postgres import server_bindir


def test_the_demo_walks_through_audit_alerts_and_rotation_and_cleans_up(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rotator", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for expected in (
        "TOO_BROAD",
        "blast radius: can delete",
        "token_too_broad",
        "token_invalid",
        "every signature checked against the shared secret: valid",
        "rotation_succeeded",
        "confirmed",
        "still alive for the 1h grace period: True",
        "media.env.previous keeps the old key until it is revoked: True",
        "functions: succeeded",
        "agent: succeeded",
        "functions: the app's FN_KEY_ID, FN_SECRET open the new key: True",
        "agent: the app's AGENT_API_KEY opens the new key: True",
        "registry: succeeded",
        "registry: the app's DOCKER_CONFIG_JSON opens the new key: True",
        "demo finished",
    ):
        assert expected in out, expected
    if server_bindir() is not None:
        # Identifiers are <user>#<12 hex of the password's SHA-256>.
        assert re.search(
            r"database: succeeded, demo_app#[0-9a-f]{12} -> demo_app_alt#[0-9a-f]{12}", out
        )
        assert (
            "database: the app's DB_USER, DB_PASSWORD, DATABASE_URL open the new key: True" in out
        )
    else:
        assert "the database_user policy is skipped" in out
    assert "Traceback" not in out + result.stderr
    served = [line for line in out.splitlines() if "the service (pid" in line and "serves" in line]
    before, after = (line.split("SPACES_ACCESS_KEY=")[1].split(";")[0] for line in served)
    assert before != after and f"SPACES_KEY={after}" in out  # the app and the service agree
    workdir = next(line.split()[-1] for line in out.splitlines() if "state directory:" in line)
    assert not (tmp_path / workdir).exists()


def test_without_a_postgresql_server_the_demo_skips_the_database_kind_in_one_line(
    tmp_path, monkeypatch, capsys
):
    from rotator.cli import main
    from rotator.sandbox import kinds

    monkeypatch.setattr(kinds, "server_bindir", lambda: None)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if "database_user policy is skipped" in line]
    assert len(notes) == 1 and "no PostgreSQL server is installed" in notes[0]
    assert "rotate database" not in out
    assert "demo finished" in out
