"""The one safe file reader: regular files only, bounded, UTF-8, one clear refusal."""

from __future__ import annotations

import os
import threading

import pytest

from rotator import files
from rotator.errors import ConfigError, UnreadableFile


def refusal(path, **options) -> str:
    with pytest.raises(UnreadableFile) as caught:
        files.read_text(path, what="alerts[0].secret_file", **options)
    assert isinstance(caught.value, ConfigError) and caught.value.exit_code == 2
    [problem] = caught.value.problems
    shown = str(path) if str(path).isprintable() else repr(str(path))
    assert problem.startswith(f"alerts[0].secret_file: cannot read {shown}: ")
    return problem


def test_a_regular_file_is_read_whole(tmp_path):
    path = tmp_path / "secret"
    path.write_text("s3cret\n")
    assert files.read_text(path, what="x") == "s3cret\n"
    assert files.read_secret(path, what="x").reveal() == "s3cret"


def test_a_fifo_is_refused_at_once_even_with_no_writer(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path, 0o600)
    done = threading.Event()

    def read() -> None:
        try:
            assert "FIFO (named pipe), not a regular file" in refusal(path)
        finally:
            done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(30), "reading a FIFO blocked"


@pytest.mark.parametrize(
    ("path", "kind"), [("/dev/zero", "a character device"), ("/dev/null", "a character device")]
)
def test_a_device_is_refused_without_reading_it(path, kind):
    assert f"it is {kind}, not a regular file" in refusal(path)


def test_a_directory_is_refused(tmp_path):
    assert "it is a directory, not a regular file" in refusal(tmp_path)


def test_a_missing_file_says_so_and_is_marked_missing(tmp_path):
    with pytest.raises(UnreadableFile) as caught:
        files.read_text(tmp_path / "absent", what="x")
    assert caught.value.missing
    assert "no such file" in str(caught.value)


def test_a_file_over_the_cap_is_refused_without_its_content(tmp_path):
    path = tmp_path / "big"
    path.write_text("canary" * 20_000)
    problem = refusal(path)
    assert "larger than 64 KiB" in problem and "canary" not in problem
    assert files.read_text(path, what="x", limit=files.CONFIG_LIMIT).startswith("canary")


def test_bytes_that_are_not_utf8_are_refused_with_their_offset(tmp_path):
    path = tmp_path / "latin1"
    path.write_bytes("café-canary".encode("latin-1"))
    problem = refusal(path)
    assert "not UTF-8 text (bad byte at offset 3)" in problem and "canary" not in problem


def test_an_empty_or_blank_secret_is_refused(tmp_path):
    path = tmp_path / "blank"
    path.write_text(" \n\t\n")
    with pytest.raises(UnreadableFile, match="it is empty"):
        files.read_secret(path, what="x")


def test_a_symlink_is_followed_unless_refused(tmp_path):
    target = tmp_path / "target"
    target.write_text("value")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert files.read_text(link, what="x") == "value"
    assert "a symbolic link, which is refused here" in refusal(link, follow_symlinks=False)


def test_a_symlink_to_a_device_is_judged_by_what_it_points_at(tmp_path):
    link = tmp_path / "link"
    link.symlink_to("/dev/zero")
    assert "a character device" in refusal(link)


def test_a_path_with_a_nul_or_a_newline_stays_one_line(tmp_path):
    assert "the path holds a NUL character" in refusal(tmp_path / "a\x00b")
    with pytest.raises(UnreadableFile) as caught:
        files.read_text(tmp_path / "a\nb", what="x")
    assert "\n" not in str(caught.value)


def test_the_source_names_where_the_file_was_given(tmp_path):
    with pytest.raises(UnreadableFile) as caught:
        files.read_text(tmp_path / "absent", what="", source="config file")
    assert str(caught.value) == f"config file: cannot read {tmp_path / 'absent'}: no such file"
