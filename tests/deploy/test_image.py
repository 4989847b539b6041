"""The container image, built for real with BuildKit and with the legacy builder.

Needs a working container engine (`docker info` answers) and the package
index the Dockerfile installs from; without an engine these tests skip and
say why. The image size is printed (`pytest -rP` shows it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 1500  # seconds: a cold build downloads the base image and every wheel


def engine_problem() -> str | None:
    """Why no image can be built here, or None when `docker info` answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "no container engine: the docker command is not installed"
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{json .ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "no container engine: `docker info` did not answer within 30 s"
    if info.returncode != 0 or not info.stdout.strip().strip('"'):
        detail = (info.stderr.strip().splitlines() or ["no server version"])[-1]
        return f"no container engine: `docker info` failed ({detail})"
    return None


PROBLEM = engine_problem()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(2 * BUILD_TIMEOUT + 300),
    pytest.mark.skipif(PROBLEM is not None, reason=PROBLEM or ""),
]


def docker(*args: str, buildkit: bool | None = None, timeout: float = 120) -> str:
    environment = dict(os.environ)
    if buildkit is not None:
        environment["DOCKER_BUILDKIT"] = "1" if buildkit else "0"
    result = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"docker {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@contextlib.contextmanager
def built(buildkit: bool) -> Iterator[str]:
    tag = f"rotator-test-{uuid.uuid4().hex[:12]}:{'buildkit' if buildkit else 'legacy'}"
    docker("build", "--pull", "-t", tag, ".", buildkit=buildkit, timeout=BUILD_TIMEOUT)
    try:
        yield tag
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120, check=False)


def can_import(image: str, interpreter: str, module: str) -> bool:
    found = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", interpreter, image, "-c", f"import {module}"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return found.returncode == 0


def test_the_image_builds_with_either_builder_and_runs_with_nothing_to_install_packages():
    sizes = []
    for buildkit in (True, False):
        with built(buildkit) as image:
            assert docker("run", "--rm", image, "--version").startswith("rotator ")
            assert docker("run", "--rm", "--entrypoint", "id", image, "-u").strip() == "10001"
            (inspected,) = json.loads(docker("image", "inspect", image))
            assert inspected["Config"]["Cmd"] == [
                "run",
                "--health-listen",
                "0.0.0.0:9464",
                "--health-public",
            ]
            assert can_import(image, "/opt/rotator/bin/python", "rotator.cli")
            for interpreter in ("/opt/rotator/bin/python", "/usr/local/bin/python"):
                for module in ("pip", "setuptools", "wheel"):
                    assert not can_import(image, interpreter, module), f"{interpreter}: {module}"
            sizes.append(
                f"{'BuildKit' if buildkit else 'legacy builder'}: {inspected['Size'] / 1e6:.1f} MB"
            )
    print("image size: " + ", ".join(sizes))
