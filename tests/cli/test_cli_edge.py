"""The CLI's edge: tokens typed on the command line, and failures of the world as one line."""

from __future__ import annotations

import argparse
import errno
import io
import sqlite3

import pytest

from rotator import cli
from rotator.services.context import Context

TOKEN = "dop_v1_" + "ab12" * 16
LEGACY = "cd34" * 16


def subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from subparsers(sub)


def test_every_subcommand_parser_redacts_tokens():
    parsers = list(subparsers(cli.build_parser()))
    assert len(parsers) >= 16
    assert all(isinstance(parser, cli.Parser) for parser in parsers)


@pytest.mark.parametrize(
    "argv",
    [
        ["connection", "add", "prod", TOKEN],
        ["connection", "add", TOKEN, "--token-stdin"],
        ["connection", "add", "prod", "--description", f"token={TOKEN}"],
        ["connection", "show", LEGACY],
        ["--config", TOKEN, "status"],
        ["rotate", TOKEN.upper()],
    ],
)
def test_a_token_on_the_command_line_is_refused_and_never_echoed(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "<redacted token>" in err and "--token-stdin" in err
    assert TOKEN not in err and TOKEN.upper() not in err and LEGACY not in err


def test_argparse_errors_that_quote_an_argument_redact_it(capsys):
    parser = cli.build_parser()
    with pytest.raises(SystemExit):
        parser.error(f"unrecognized arguments: {TOKEN} --x")
    err = capsys.readouterr().err
    assert "unrecognized arguments: <redacted token> --x" in err
    assert "use --token-stdin" in err and TOKEN not in err


def run(tmp_path, failure: BaseException, *flags: str, environ: dict | None = None):
    """main() with a command that fails with *failure*; returns (code, stderr)."""

    def command(args, ctx):
        raise failure

    stderr = io.StringIO()
    env = {"HOME": str(tmp_path), "ROTATOR_STATE_DIR": str(tmp_path / "state"), **(environ or {})}
    ctx = Context(environ=env, stderr=stderr, stdout=io.StringIO())
    original = cli.load_handler
    cli.load_handler = lambda reference: command
    try:
        code = cli.main([*flags, "status"], ctx=ctx)
    finally:
        cli.load_handler = original
    return code, stderr.getvalue()


@pytest.mark.parametrize(
    ("failure", "code", "line"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "/state/rotator.db"),
            1,
            "error: /state/rotator.db: No space left on device (free some space and run "
            "the command again)",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/state/rotator.lock"),
            1,
            "error: /state/rotator.lock: Permission denied",
        ),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/state/x"), 1, "Is a directory"),
        (OSError(errno.EROFS, "Read-only file system"), 1, "error: Read-only file system"),
        (sqlite3.OperationalError("database or disk is full"), 1, "database or disk is full"),
        (sqlite3.OperationalError("attempt to write a readonly database"), 1, "readonly"),
        (OverflowError("date value out of range"), 1, "out of range"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), 2, "not valid UTF-8"),
        (RecursionError("maximum recursion depth exceeded"), 2, "nested too deeply"),
    ],
)
def test_a_failure_of_the_world_is_one_error_line(tmp_path, failure, code, line):
    exit_code, err = run(tmp_path, failure)
    assert exit_code == code
    [only] = err.splitlines()
    assert only.startswith("error: ") and line in only


def test_the_store_is_named_when_sqlite_fails(tmp_path):
    _, err = run(tmp_path, sqlite3.DatabaseError("file is not a database"))
    assert err == f"error: store {tmp_path / 'state' / 'rotator.db'}: file is not a database\n"


def test_a_failure_message_with_a_token_or_a_newline_stays_one_clean_line(tmp_path):
    _, err = run(tmp_path, OSError(errno.EIO, f"bad\nthing {TOKEN}", "/x"))
    assert len(err.splitlines()) == 1 and TOKEN not in err


@pytest.mark.parametrize(
    ("flags", "environ"), [(["--debug"], {}), ([], {"ROTATOR_LOG_LEVEL": "DEBUG"})]
)
def test_debugging_shows_the_traceback_then_the_line(tmp_path, flags, environ):
    failure = OSError(errno.ENOSPC, "No space left on device", "/state/rotator.db")
    code, err = run(tmp_path, failure, *flags, environ=environ)
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("error: /state/rotator.db: No space left")


def test_a_bug_still_raises_with_its_traceback(tmp_path):
    with pytest.raises(KeyError):
        run(tmp_path, KeyError("a bug"))


@pytest.mark.parametrize(
    ("argv", "debug"),
    [
        (["status"], False),
        (["--debug", "status"], True),
        (["status", "--debug"], True),
        (["connection", "list", "--debug"], True),
    ],
)
def test_debug_is_accepted_before_or_after_the_command(argv, debug):
    assert cli.build_parser().parse_args(argv).debug is debug
