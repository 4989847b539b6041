"""`rotator completion bash|zsh|fish`: scripts the shells accept and that complete rotator."""

from __future__ import annotations

import shutil
import subprocess

import pytest

SHELLS = ("bash", "zsh", "fish")


def script(rotator, shell: str) -> str:
    result = rotator("completion", shell)
    assert result.code == 0, result.output
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("shell", SHELLS)
def test_each_shell_gets_a_script_that_names_every_command(rotator, shell):
    text = script(rotator, shell)
    for command in ("init", "rekey", "connection", "rotate", "status", "history", "completion"):
        assert command in text, command
    for subcommand in ("validate", "audit", "check"):
        assert subcommand in text, subcommand


@pytest.mark.parametrize("shell", SHELLS)
def test_the_shell_parses_its_script(rotator, shell, tmp_path):
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed")
    path = tmp_path / f"rotator.{shell}"
    path.write_text(script(rotator, shell))
    checked = subprocess.run(
        [binary, "-n", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stderr


def test_completion_needs_no_config_and_no_store(rotator):
    rotator.config.write_text("this is = not [valid toml\n")
    result = rotator("completion", "bash")
    assert result.code == 0, result.output
    assert "complete -F _rotator_complete rotator" in result.stdout


def test_an_unknown_shell_is_a_usage_error(rotator):
    result = rotator("completion", "powershell")
    assert result.code == 2
    assert "invalid choice" in result.stderr


def bash_completes(script_path, *words: str) -> list[str]:
    """What bash offers after `rotator WORDS` (the last word is the one being typed)."""
    quoted = " ".join(f"'{word}'" for word in words)
    program = (
        f"source '{script_path}'; COMP_WORDS=(rotator {quoted}); "
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _rotator_complete; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.split()


def test_bash_completes_commands_subcommands_options_and_choices(rotator, tmp_path):
    path = tmp_path / "rotator.bash"
    path.write_text(script(rotator, "bash"))
    assert bash_completes(path, "co") == ["connection", "config", "completion"]
    assert {"add", "list", "validate", "audit"} <= set(bash_completes(path, "connection", ""))
    assert bash_completes(path, "-v", "connection", "a") == ["add", "audit"]
    assert bash_completes(path, "completion", "")[:3] == ["bash", "zsh", "fish"]
    assert "--dry-run" in bash_completes(path, "rotate", "media", "--d")
    assert bash_completes(path, "--config", "x.toml", "status", "--j") == ["--json"]


def test_fish_completes_subcommands_with_their_help(rotator, tmp_path):
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    path = tmp_path / "rotator.fish"
    path.write_text(script(rotator, "fish"))
    done = subprocess.run(
        ["fish", "--no-config", "-c", f"source '{path}'; complete -C 'rotator connection '"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    offered = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    assert offered["add"] == "register a token under a name"
    assert "validate" in offered


def test_zsh_offers_a_commands_subcommands_with_their_help_and_files_for_paths(rotator, tmp_path):
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    path = tmp_path / "_rotator"
    path.write_text(script(rotator, "zsh"))
    # Outside a completion widget: stand-ins for compdef, _describe and _files print
    # what the completion system would be handed.
    program = (
        f"compdef() {{ : }}; source '{path}'; "
        "_describe() { local name=${@[-1]}; print -rl -- ${(P)name} }; "
        "_files() { print FILES }; "
        "words=(rotator -v connection a); CURRENT=4; _rotator; print -r -- ---; "
        "words=(rotator --config ''); CURRENT=3; _rotator"
    )
    done = subprocess.run(
        ["zsh", "-f", "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    offered, paths = done.stdout.split("---\n")
    assert "add:register a token under a name" in offered.splitlines()
    assert "--verbose:show logs on stderr: -v info, -vv debug" in offered.splitlines()
    assert paths.strip() == "FILES"
