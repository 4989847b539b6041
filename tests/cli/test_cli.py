import argparse
import re
from pathlib import Path
from types import SimpleNamespace

from rotator.cli import NOT_REPORTING, build_parser, load_handler, log_level, verbosity

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from subparsers(sub)


def test_every_command_names_a_handler_that_exists():
    handlers = [sub.get_default("handler") for sub in subparsers(build_parser())]
    handlers = [h for h in handlers if h is not None]
    assert len(handlers) == len(set(handlers)) >= 16
    for reference in handlers:
        assert callable(load_handler(reference)), reference


# -- what every command offers (walks the parser, so a new command is held to it) ----------


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("rotator",)):
    """Every (command path, parser), groups included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from commands(sub, (*path, name))


def leaves(parser: argparse.ArgumentParser):
    """Every runnable command: (path, parser, handler)."""
    for path, sub in commands(parser):
        handler = sub.get_default("handler")
        if handler is not None:
            yield " ".join(path), sub, handler


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def test_every_reporting_command_takes_json_and_the_exceptions_are_named():
    missing = [
        name
        for name, sub, handler in leaves(build_parser())
        if handler not in NOT_REPORTING and "--json" not in options(sub)
    ]
    assert missing == []
    exempt = {handler for _, _, handler in leaves(build_parser()) if handler in NOT_REPORTING}
    assert exempt == set(NOT_REPORTING), "NOT_REPORTING names only real commands"
    for _, sub, handler in leaves(build_parser()):
        if handler in NOT_REPORTING:
            assert "--json" not in options(sub), handler


def test_the_commands_the_issue_named_take_json():
    by_name = {name: sub for name, sub, _ in leaves(build_parser())}
    for name in ("config check", "init", "rekey", "run"):
        assert "--json" in options(by_name[f"rotator {name}"]), name


def test_the_readme_sentence_about_json_is_true():
    readme = " ".join((REPOSITORY_ROOT / "README.md").read_text().split())
    start = readme.index("Every listing or report command takes `--json`")
    sentence = readme[start : readme.index(". ", start)]
    named = set(re.findall(r"`rotator (\w+)`", sentence))
    assert named == {handler.split(":")[0] for handler in NOT_REPORTING} | {"run"}, sentence
    assert "`rotator run` without `--once`" in sentence
    run = next(sub for name, sub, _ in leaves(build_parser()) if name == "rotator run")
    assert "--json" in options(run) and "--once" in options(run)


def test_every_argument_has_help():
    parser = build_parser()
    every = [(("rotator",), parser), *commands(parser)]
    missing = [
        f"{' '.join(path)}: {action.dest}"
        for path, sub in every
        for action in sub._actions
        if not action.help
    ]
    assert missing == []


def test_positional_arguments_are_named_in_capitals_with_their_help():
    for path, sub in commands(build_parser()):
        for action in sub._actions:
            if not action.option_strings:
                assert action.metavar and action.metavar.isupper(), (path, action.dest)
                assert action.help, (path, action.dest)


def test_every_command_shows_an_example_in_its_help():
    for path, sub in commands(build_parser()):
        text = sub.format_help()
        assert "\nexamples:\n  " in text, path
        examples = [line.strip() for line in text.split("\nexamples:\n")[1].splitlines()]
        assert examples and all("rotator " in line for line in examples if line), path
        assert any(" ".join(path) in line for line in examples), path


def test_quiet_and_verbose_are_accepted_before_and_after_every_command():
    parser = build_parser()
    for name, _, _ in leaves(parser):
        argv = name.split()[1:]
        required = {
            "connection add": ["prod"],
            "connection show": ["prod"],
            "connection update": ["prod"],
            "connection remove": ["prod"],
            "connection audit": ["prod"],
            "rotate": ["media"],
            "completion": ["bash"],
        }.get(" ".join(argv), [])
        before = parser.parse_args(["-q", *argv, *required])
        after = parser.parse_args([*argv, *required, "-vv"])
        assert verbosity(before) == -1, name
        assert verbosity(after) == 2, name
        assert verbosity(parser.parse_args(["-v", *argv, *required, "-v"])) == 2, name


def settings(level: str = "INFO"):
    return SimpleNamespace(log_level=level)


def test_commands_log_warnings_only_and_the_daemon_logs_info_by_default():
    parser = build_parser()
    assert log_level(parser.parse_args(["status"]), settings(), {}) == "WARNING"
    assert log_level(parser.parse_args(["run"]), settings(), {}) == "INFO"
    assert log_level(parser.parse_args(["-q", "run", "--once"]), settings(), {}) == "ERROR"
    assert log_level(parser.parse_args(["status", "-v"]), settings(), {}) == "INFO"
    assert log_level(parser.parse_args(["-vv", "status"]), settings(), {}) == "DEBUG"


def test_rotator_log_level_in_the_environment_wins_over_the_flags():
    parser = build_parser()
    environ = {"ROTATOR_LOG_LEVEL": "ERROR"}
    assert log_level(parser.parse_args(["status", "-vv"]), settings("ERROR"), environ) == "ERROR"
    environ = {"ROTATOR_LOG_LEVEL": "DEBUG"}
    assert log_level(parser.parse_args(["-q", "status"]), settings("DEBUG"), environ) == "DEBUG"
