"""ROTATOR_DATABASE_URL and ROTATOR_DATABASE_URL_FILE: read carefully, never echoed."""

import pytest

from rotator.errors import ConfigError
from rotator.settings import load_settings

CANARY = "s3cret-canary-password"
URL = f"postgresql://doadmin:{CANARY}@db.example.com:25060/defaultdb?sslmode=verify-full"


def _environ(tmp_path, **extra):
    return {"HOME": str(tmp_path), **extra}


def test_without_a_url_the_store_is_sqlite(tmp_path):
    assert load_settings(_environ(tmp_path)).database_url is None


def test_the_url_is_taken_as_given_and_kept_secret(tmp_path):
    settings = load_settings(_environ(tmp_path, ROTATOR_DATABASE_URL=URL))
    assert settings.database_url is not None
    assert settings.database_url.reveal() == URL  # sslmode and the rest pass through
    assert CANARY not in repr(settings)


def test_the_url_can_come_from_a_file_with_its_newline(tmp_path):
    url_file = tmp_path / "url"
    url_file.write_text(URL + "\n")
    settings = load_settings(_environ(tmp_path, ROTATOR_DATABASE_URL_FILE=str(url_file)))
    assert settings.database_url is not None
    assert settings.database_url.reveal() == URL


def test_the_url_file_may_be_reached_through_a_symbolic_link(tmp_path):
    # Kubernetes mounts a Secret's keys as links into a ..data directory.
    (tmp_path / "..data").mkdir()
    (tmp_path / "..data" / "url").write_text(URL)
    (tmp_path / "url").symlink_to(tmp_path / "..data" / "url")
    settings = load_settings(_environ(tmp_path, ROTATOR_DATABASE_URL_FILE=str(tmp_path / "url")))
    assert settings.database_url is not None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read"),
        ("", "is empty"),
        ("\n\n", "is empty"),
        (URL + "\n" + URL, "not a postgresql"),
        ("x" * 9000, "longer than"),
        (f"mysql://u:{CANARY}@h/db", "not a postgresql"),
    ],
)
def test_a_bad_url_file_is_one_problem_that_does_not_show_its_content(tmp_path, content, problem):
    url_file = tmp_path / "url"
    if content is not None:
        url_file.write_text(content)
    with pytest.raises(ConfigError, match=problem) as caught:
        load_settings(_environ(tmp_path, ROTATOR_DATABASE_URL_FILE=str(url_file)))
    assert CANARY not in str(caught.value)
    assert "ROTATOR_DATABASE_URL_FILE" in str(caught.value)


def test_a_url_file_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(_environ(tmp_path, ROTATOR_DATABASE_URL_FILE=str(tmp_path)))


def test_the_url_and_its_file_together_are_refused(tmp_path):
    url_file = tmp_path / "url"
    url_file.write_text(URL)
    with pytest.raises(ConfigError, match="not both"):
        load_settings(
            _environ(tmp_path, ROTATOR_DATABASE_URL=URL, ROTATOR_DATABASE_URL_FILE=str(url_file))
        )


def test_a_url_that_is_not_postgresql_is_refused_without_echoing_it(tmp_path):
    with pytest.raises(ConfigError, match="ROTATOR_DATABASE_URL: not a postgresql") as caught:
        load_settings(_environ(tmp_path, ROTATOR_DATABASE_URL=f"sqlite:///{CANARY}"))
    assert CANARY not in str(caught.value)
