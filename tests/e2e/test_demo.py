"""`rotator demo` as a newcomer runs it: one command, no account, no network, exit 0."""

import subprocess
import sys


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
        "agent: the app's AGENT_API_KEY open the new key: True",
        "registry: succeeded",
        "registry: the app's DOCKER_CONFIG_JSON open the new key: True",
        "demo finished",
    ):
        assert expected in out, expected
    assert "Traceback" not in out + result.stderr
    served = [line for line in out.splitlines() if "the service (pid" in line and "serves" in line]
    before, after = (line.split("SPACES_ACCESS_KEY=")[1].split(";")[0] for line in served)
    assert before != after and f"SPACES_KEY={after}" in out  # the app and the service agree
    workdir = next(line.split()[-1] for line in out.splitlines() if "state directory:" in line)
    assert not (tmp_path / workdir).exists()
