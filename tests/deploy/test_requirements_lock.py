"""The hash-pinned lock files the image installs from, kept in step with pyproject.toml.

Recompiling needs the package index, so this checks offline what a stale
lock gets wrong: a dependency added, dropped or re-bounded in pyproject.toml
without `pip-compile` being run again (the README gives the command).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
BUILD_LOCK = ROOT / "requirements" / "build.txt"
SOURCE = f"{PYPROJECT['project']['name']} (pyproject.toml"


@dataclass
class Pin:
    name: str
    version: Version
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def read_lock(path: Path) -> tuple[str, dict[str, Pin]]:
    """(the command in its header, pins by canonical name) of a pip-compile output."""
    text = path.read_text()
    (command,) = re.findall(r"^#    (pip-compile .+)$", text, re.MULTILINE)
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in text.splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\", line):
            current = Pin(canonicalize_name(match[1]), Version(match[2]))
            pins[current.name] = current
            in_via = False
        elif current and (match := re.fullmatch(r"\s+--hash=(\w+):([0-9a-f]+)( \\)?", line)):
            assert match[1] == "sha256", line
            current.hashes.append(match[2])
        elif current and (match := re.fullmatch(r"\s+# via (.+)", line)):
            current.via.append(match[1])
        elif current and re.fullmatch(r"\s+# via", line):
            in_via = True
        elif current and in_via and (match := re.fullmatch(r"\s+#   (.+)", line)):
            current.via.append(match[1])
        elif line.strip() and not line.startswith("#"):
            pytest.fail(f"{path.name}: unexpected line {line!r}")
    return command, pins


def test_every_runtime_dependency_is_pinned_with_hashes_within_its_bounds():
    _, pins = read_lock(RUNTIME_LOCK)
    for text in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not in {RUNTIME_LOCK.name}"
        pin = pins[name]
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{name}=={pin.version} does not satisfy {requirement.specifier}: re-run pip-compile"
        )
        assert any(via.startswith(SOURCE) for via in pin.via), (name, pin.via)


def test_every_pin_has_hashes_and_a_reason_to_be_there():
    """No package is left over from a dependency pyproject.toml no longer has."""
    _, pins = read_lock(RUNTIME_LOCK)
    direct = {canonicalize_name(Requirement(d).name) for d in PYPROJECT["project"]["dependencies"]}
    for pin in pins.values():
        assert pin.hashes and all(len(h) == 64 for h in pin.hashes), pin.name
        reasons = {canonicalize_name(via) for via in pin.via if not via.startswith(SOURCE)}
        assert pin.name in direct or reasons & set(pins), f"{pin.name} is needed by nothing"
        if pin.name in direct:
            assert any(via.startswith(SOURCE) for via in pin.via), pin.name
        else:
            # Only pyproject.toml's dependencies say "via do-rotator".
            assert not any(via.startswith(SOURCE) for via in pin.via), pin.name
    # Nothing that installs packages ends up in the runtime venv.
    assert not {"pip", "setuptools", "wheel"} & set(pins)
    assert len(pins) > len(direct)


def test_the_lock_lists_no_index_and_no_local_path():
    """The index comes from the build (PIP_INDEX_URL), never from the lock."""
    for path in (RUNTIME_LOCK, BUILD_LOCK):
        for line in path.read_text().splitlines():
            assert not re.match(r"\s*(-i|--index-url|--extra-index-url|-f|--find-links)\b", line)
            assert "file://" not in line and " @ " not in line, line


def test_the_build_backend_is_pinned_within_build_system_requires():
    _, pins = read_lock(BUILD_LOCK)
    for text in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(text)
        pin = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pin.version), (text, pin.version)
        assert pin.hashes
        assert any("build-system.requires" in via for via in pin.via)
    assert set(pins) == {
        canonicalize_name(Requirement(t).name) for t in PYPROJECT["build-system"]["requires"]
    }


def test_the_locks_were_made_for_the_images_python():
    image = re.search(
        r"^ARG PYTHON_IMAGE=python:(3\.\d+)\.", (ROOT / "Dockerfile").read_text(), re.M
    )
    assert image
    for path in (RUNTIME_LOCK, BUILD_LOCK):
        assert f"autogenerated by pip-compile with Python {image[1]}\n" in path.read_text()


def test_the_readme_gives_the_commands_that_made_the_locks():
    readme = (ROOT / "README.md").read_text()
    for path in (RUNTIME_LOCK, BUILD_LOCK):
        command, _ = read_lock(path)
        assert f"--output-file=requirements/{path.name}" in command
        assert "--generate-hashes" in command
        assert command in readme, f"the README does not give the command that made {path.name}"
