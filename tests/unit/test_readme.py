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
