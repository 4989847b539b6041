"""What the distribution declares: its name, licence and metadata, and the spec the tests ship.

`python -m build` itself needs the network (an isolated build environment), so
these tests read pyproject.toml and the files it names.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
SPEC_DIR = ROOT / "tests" / "spec"


def test_the_distribution_name_is_not_the_one_taken_on_pypi():
    # "rotator" on PyPI is an unrelated log rotation utility.
    assert PROJECT["name"] == "do-rotator"
    # The command and the import package keep the short name.
    assert PROJECT["scripts"] == {"rotator": "rotator.cli:main"}
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["rotator*"]


def test_the_licence_is_an_spdx_expression_with_its_file():
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n")
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    # PEP 639: a licence classifier beside an SPDX expression is an error.
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]


def test_the_build_backend_understands_pep_639():
    (requirement,) = (Requirement(r) for r in PYPROJECT["build-system"]["requires"])
    assert requirement.name == "setuptools"
    # setuptools 77 is the first to accept `license = "<SPDX>"` and `license-files`.
    assert not requirement.specifier.contains(Version("76.1.0"))
    assert requirement.specifier.contains(Version("77.0.3"))


def test_the_classifiers_match_what_the_project_supports():
    classifiers = set(PROJECT["classifiers"])
    versions = {
        c.rsplit(" :: ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert versions, "name the Python versions the tests run on"
    supported = SpecifierSet(PROJECT["requires-python"])
    assert all(supported.contains(Version(f"{v}.0")) for v in versions)
    assert "Programming Language :: Python :: 3 :: Only" in classifiers
    assert "Environment :: No Input/Output (Daemon)" in classifiers
    assert "Typing :: Typed" not in classifiers or (ROOT / "rotator" / "py.typed").is_file()
    assert PROJECT["description"] and PROJECT["readme"] == "README.md"


def test_the_openapi_spec_the_contract_tests_use_is_in_the_repository():
    spec_file = SPEC_DIR / "digitalocean-openapi.json"
    spec = json.loads(spec_file.read_text())
    readme = (SPEC_DIR / "README.md").read_text()
    # Where it comes from: the upstream commit recorded in the file is the
    # one the README names, and the licence upstream gave it is kept.
    commit = spec["x-bundled-from"]["commit"]
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    assert f"`{commit}`" in readme
    assert spec["x-bundled-from"]["repository"] in readme
    assert spec["info"]["license"]["name"] == "Apache 2.0"
    assert "Apache" in readme and "modified, reduced copy" in readme
    # The README describes this very file: an edit without re-bundling shows.
    assert f"Size: {spec_file.stat().st_size:,} bytes" in readme
    operations = sum(
        1
        for item in spec["paths"].values()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    )
    assert f"{len(spec['paths'])} paths and {operations} operations" in readme


def test_the_tests_load_the_spec_from_the_repository():
    """Not from beside the repository: a fresh clone has nothing there."""
    environment = {k: v for k, v in os.environ.items() if k != "DIGITALOCEAN_OPENAPI_FILE"}
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys; print(runpy.run_path(sys.argv[1])['OPENAPI_FILE'])",
            str(ROOT / "tests" / "conftest.py"),
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert Path(found.stdout.strip()) == SPEC_DIR / "digitalocean-openapi.json"
