"""The layering holds: nothing imports from a layer above it, no import cycle between parts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.layers import REPOSITORY_ROOT, build, main

LAYERS = {
    "top": ("pkg.top",),
    "middle": ("pkg.middle",),
    "bottom": ("pkg.bottom", "pkg.other", "pkg"),
}


def package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_rotator_follows_its_layering_as_the_check_anyone_can_run_prints_it():
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.layers"],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cli " in result.stdout
    assert "services" in result.stdout
    assert "no upward import, no cycle between parts" in result.stdout


def test_an_upward_import_is_found_even_inside_a_function_or_type_checking(tmp_path):
    root = package(
        tmp_path,
        {
            "top.py": "from pkg import middle\n",
            "middle.py": "import pkg.bottom\n",
            "bottom.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.middle import thing\n",
            "other.py": "def later():\n    from pkg import top\n",
        },
    )
    graph = build(root, LAYERS, {})
    problems = graph.upward()
    assert len(problems) == 2, problems
    assert any("pkg.bottom (bottom) imports pkg.middle" in p for p in problems)
    assert any("pkg.other (bottom) imports pkg.top" in p for p in problems)


def test_a_cycle_between_parts_of_one_layer_is_found(tmp_path):
    root = package(
        tmp_path,
        {"bottom.py": "from . import other\n", "other.py": "from pkg import bottom\n"},
    )
    graph = build(root, LAYERS, {})
    assert graph.upward() == []
    assert graph.cycles() == [["pkg.bottom", "pkg.other"]]


def test_a_part_apart_may_be_imported_only_by_the_modules_named(tmp_path):
    root = package(
        tmp_path,
        {
            "top.py": "import pkg.sandbox\n",
            "middle.py": "from pkg.sandbox import server\n",
            "sandbox/__init__.py": "",
            "sandbox/server.py": "from pkg import bottom\n",
            "bottom.py": "",
        },
    )
    graph = build(root, LAYERS, {"pkg.sandbox": ("pkg.top",)})
    problems = graph.upward()
    assert len(problems) == 1, problems
    assert "pkg.middle imports pkg.sandbox.server" in problems[0]


def test_the_check_exits_1_and_names_the_import_that_goes_up(tmp_path, capsys):
    root = tmp_path / "rotator"
    (root / "services").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "services" / "__init__.py").write_text("")
    (root / "services" / "context.py").write_text("from rotator import store\n")
    (root / "store.py").write_text("def later():\n    from rotator.services import context\n")
    assert main([str(root)]) == 1
    out = capsys.readouterr().out
    assert "rotator/store.py:2: rotator.store (adapters) imports rotator.services.context" in out
    assert "import cycle between parts: rotator.services <-> rotator.store" in out
    assert "2 layering problem(s)" in out


def test_a_clean_package_passes_and_the_graph_names_each_layer(tmp_path, capsys):
    root = package(
        tmp_path,
        {"top.py": "from pkg import middle\n", "middle.py": "from pkg.bottom import x\n"},
    )
    graph = build(root, LAYERS, {})
    assert graph.upward() == []
    assert graph.cycles() == []
    assert not graph.unplaced
