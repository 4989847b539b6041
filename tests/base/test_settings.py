from datetime import timedelta
from pathlib import Path

import pytest

from rotator.durations import format_duration, parse_duration
from rotator.errors import ConfigError
from rotator.settings import load_config_file, load_settings, read_secret

EXAMPLE = Path(__file__).parents[2] / "config" / "rotator.example.toml"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("1h", 3600),
        ("30d", 2592000),
        ("1h30m", 5400),
        ("2w", 1209600),
    ],
)
def test_durations_parse_the_operator_spellings(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "1", "1x", "h", "-1h", "1.5h", "0s", "1 h"])
def test_bad_durations_are_refused_with_the_expected_spelling(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def write(tmp_path, text):
    path = tmp_path / "rotator.toml"
    path.write_text(text)
    return path


def test_the_example_config_is_valid_and_documents_every_section():
    config = load_config_file(EXAMPLE)
    assert config.policies and config.alerts and config.connections
    assert {sink.type for policy in config.policies for sink in policy.sinks} == {
        "app_platform",
        "vault",
        "github_actions",
    }
    assert {alert.type for alert in config.alerts} == {"webhook", "slack"}


def test_every_config_problem_is_reported_at_once_with_its_location(tmp_path):
    path = write(
        tmp_path,
        """
[daemon]
validate_every = "soon"
colour = "blue"
[[policies]]
name = "Media!"
connection = "prod"
spaces_key = "DO00X"
[[policies.sinks]]
type = "app_platform"
app_id = "a"
access_key_env = "1BAD"
secret_key_env = "OK"
[[policies.sinks]]
type = "vault"
url = "http://127.0.0.1:8200"
path = "x"
[[alerts]]
type = "pager"
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    text = "\n".join(caught.value.problems)
    assert str(path) in str(caught.value)
    for expected in (
        "daemon.validate_every: invalid duration 'soon'",
        "daemon.colour: unknown key",
        "policies[0].name:",
        "policies[0].sinks[0].access_key_env: '1BAD'",
        "policies[0].sinks[1]: set exactly one of token, token_file or approle",
        "alerts[0]",
    ):
        assert expected in text
    assert len(caught.value.problems) == 6


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "[daemon\nvalidate_every = 1\n")
    with pytest.raises(ConfigError, match=r"rotator.toml: not valid TOML.*line 1"):
        load_config_file(path)


def test_duplicate_policy_names_are_refused(tmp_path):
    policy = """
[[policies]]
name = "media"
connection = "prod"
spaces_key = "K"
[[policies.sinks]]
type = "vault"
url = "http://127.0.0.1:1"
path = "p"
token = "t"
"""
    with pytest.raises(ConfigError, match="policy name 'media' is used twice"):
        load_config_file(write(tmp_path, policy * 2))


def test_an_unknown_rotator_variable_is_an_error_not_silently_ignored():
    with pytest.raises(ConfigError, match="ROTATOR_STATEDIR: unknown variable"):
        load_settings({"ROTATOR_STATEDIR": "/tmp/x"})


def test_defaults_follow_systemd_directories_when_present(tmp_path):
    settings = load_settings(
        {
            "STATE_DIRECTORY": f"{tmp_path}/state:/other",
            "CREDENTIALS_DIRECTORY": f"{tmp_path}/creds",
            "HOME": "/nowhere",
        }
    )
    assert settings.state_dir == tmp_path / "state"
    assert settings.master_key_file == tmp_path / "creds" / "master-key"
    assert settings.api_url == "https://api.digitalocean.com"


def test_without_systemd_the_state_lives_under_home(tmp_path):
    settings = load_settings({"HOME": str(tmp_path)})
    assert settings.state_dir == tmp_path / ".local/state/rotator"
    assert settings.master_key_file == settings.state_dir / "master.key"


def test_master_key_and_master_key_file_cannot_both_be_set():
    with pytest.raises(ConfigError, match="not both"):
        load_settings({"ROTATOR_MASTER_KEY": "x", "ROTATOR_MASTER_KEY_FILE": "/k"})


def test_a_secret_file_is_read_without_its_trailing_newline(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret\n")
    assert read_secret(None, secret_file, "alerts[0].secret").reveal() == "s3cret"
    with pytest.raises(ConfigError, match="cannot read"):
        read_secret(None, tmp_path / "absent", "alerts[0].secret")


def test_the_unavailable_verify_step_is_refused_rather_than_silently_skipped(tmp_path):
    path = write(
        tmp_path,
        """
[[policies]]
name = "media"
connection = "prod"
spaces_key = "K"
verify = true
[[policies.sinks]]
type = "vault"
url = "http://127.0.0.1:1"
path = "p"
token = "t"
""",
    )
    with pytest.raises(ConfigError, match=r"policies\[0\].verify: verify = true is not available"):
        load_config_file(path)


def test_every_file_a_table_reads_is_listed_with_its_location_and_written_paths_are_not():
    from rotator.configtypes import ReadableFile, Strict

    class Output(Strict):
        written: Path  # a file rotator would write: nothing to prove readable
        read: ReadableFile | None = None

    assert list(Output(written=Path("/out"), read=Path("/in")).files("x")) == [
        ("x.read", Path("/in"))
    ]
    config = load_config_file(EXAMPLE)
    listed = {
        where: path
        for number, policy in enumerate(config.policies)
        for index, sink in enumerate(policy.sinks)
        for where, path in sink.files(f"policies[{number}].sinks[{index}]")
    }
    listed.update(
        {
            where: path
            for i, alert in enumerate(config.alerts)
            for where, path in alert.files(f"alerts[{i}]")
        }
    )
    assert sorted(listed) == [
        "alerts[0].secret_file",
        "alerts[1].url_file",
        "policies[0].sinks[1].token_file",
        "policies[0].sinks[2].token_file",
    ]
