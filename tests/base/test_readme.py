import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def readme_commands() -> list[str]:
    head = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", head)


def test_the_readme_opens_with_exactly_two_setup_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "rotator demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_very_test_command_the_readme_gives():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci_lines
    assert ci_lines[-1] == readme_commands()[1]


def test_ci_lints_formats_and_type_checks_the_tree_before_the_tests():
    script = (ROOT / ".ci" / "run").read_text()
    tests_at = script.rindex(readme_commands()[1])
    for check in (
        ".venv/bin/ruff check rotator tests benchmarks",
        ".venv/bin/ruff format --check rotator tests benchmarks",
        ".venv/bin/mypy",
    ):
        assert check in script
        assert script.index(check) < tests_at, check
