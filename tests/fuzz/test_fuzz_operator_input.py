"""Fuzz what an operator types: tokens, names, durations and the TOML config."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rotator.commands.connections import check_name
from rotator.digitalocean.tokens import ApiToken, parse_token
from rotator.durations import MAX_DURATION, parse_duration
from rotator.errors import ConfigError, InvalidName, InvalidTokenFormat
from rotator.settings import FileConfig, load_config_file, parse_config
from tests.fuzz.fuzz_support import (
    CANARY_SECRET,
    FUZZ,
    assert_one_clean_line,
    json_values,
    outcome,
)

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = (REPOSITORY / "config" / "rotator.example.toml").read_text()

hex_text = st.text(alphabet="0123456789abcdefABCDEFg", min_size=60, max_size=70)
token_like = (
    st.tuples(
        st.sampled_from(["dop_v1_", "doo_v1_", "dor_v1_", "DOP_V1_", "dop_v2_", ""]), hex_text
    ).map("".join)
    | st.text(max_size=100)
    | st.binary(max_size=80).map(lambda raw: raw.decode("utf-8", "surrogateescape"))
)


@FUZZ
@given(token_like, st.sampled_from(["", " ", "\n", "\t\r\n"]))
def test_a_token_parses_or_is_refused_without_being_repeated(text, padding):
    candidate = padding + text + padding
    result = outcome(lambda: parse_token(candidate))
    if isinstance(result, ApiToken):
        assert result.secret.reveal() == text.strip()
    else:
        assert isinstance(result, InvalidTokenFormat)
        if len(text.strip()) >= 8:
            assert text.strip() not in str(result)


@FUZZ
@given(st.text(max_size=80) | st.from_regex(r"[a-z0-9][a-z0-9_-]{0,70}", fullmatch=True))
def test_a_name_is_accepted_only_in_its_documented_shape(name):
    result = outcome(lambda: check_name(name))
    if isinstance(result, str):
        assert result == name and 1 <= len(name) <= 63
    else:
        assert isinstance(result, InvalidName)


durations = (
    st.from_regex(r"([0-9]{1,15}[smhdw]){1,3}", fullmatch=True)
    | st.text(max_size=30)
    | st.integers().map(str)
    | st.sampled_from(["999999999d", "9" * 5000 + "s", "36500d", "36501d", "0s", "1h30m"])
)


@FUZZ
@given(durations)
def test_a_duration_is_positive_and_at_most_a_century_or_refused_in_one_line(text):
    try:
        value = parse_duration(text)
    except ValueError as exc:
        assert_one_clean_line(exc)
        assert len(str(exc)) < 300
        return
    assert timedelta(0) < value <= MAX_DURATION


@FUZZ
@given(st.sampled_from(["validate_every", "audit_every", "max_token_age"]), durations | json_values)
def test_a_duration_in_the_config_is_a_config_error_with_its_location(key, value):
    result = outcome(lambda: parse_config({"daemon": {key: value}}))
    if isinstance(result, ConfigError):
        assert f"daemon.{key}" in str(result)
    else:
        assert isinstance(result, FileConfig)


config_keys = [
    "daemon", "digitalocean", "connections", "policies", "alerts", "sinks", "name", "type",
    "connection", "spaces_key", "every", "grace", "url", "token", "token_file", "secret_file",
    "health_listen", "concurrency", "extra_scopes", "app_id", "access_key_env", "prod",
]  # fmt: skip
config_shapes = st.recursive(
    json_values,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(config_keys) | st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=40,
)


@FUZZ
@given(
    st.dictionaries(st.sampled_from(config_keys) | st.text(max_size=8), config_shapes, max_size=6)
)
def test_any_parsed_config_validates_or_is_one_config_error(data):
    result = outcome(lambda: parse_config(data))
    assert isinstance(result, FileConfig | ConfigError)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def _mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    for position, length, replacement in edits:
        at = position % (len(text) + 1)
        text = text[:at] + replacement + text[at + length :]
    return text


config_texts = (
    st.text(max_size=300)
    | st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10_000),
            st.integers(min_value=0, max_value=20),
            st.text(max_size=10) | st.sampled_from(['"', "[", "]", "=", "\n", "{", "}", "[[", "'"]),
        ),
        min_size=1,
        max_size=6,
    ).map(lambda edits: _mutate(EXAMPLE_CONFIG, edits))
    | st.integers(min_value=1, max_value=3000).map(lambda depth: "a = " + "[" * depth + "]" * depth)
)


@FUZZ
@given(text=config_texts)
def test_any_config_text_loads_or_is_one_config_error(scratch, text):
    path = scratch / "rotator.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = outcome(lambda: load_config_file(path))
    assert isinstance(result, FileConfig | ConfigError)


@FUZZ
@given(st.binary(max_size=400))
def test_any_config_bytes_load_or_are_one_config_error(scratch, raw):
    path = scratch / "raw.toml"
    path.write_bytes(raw)
    result = outcome(lambda: load_config_file(path))
    assert isinstance(result, FileConfig | ConfigError)


# Where each table type keeps a secret (a Vault or webhook URL is not one: it is quoted).
SECRET_KEYS = {
    "vault": ["token", "approle"],
    "webhook": ["secret"],
    "slack": ["url"],
    "app_platform": ["token", "secret"],
    "pager": ["token", "secret", "url"],
}


def _secret_table(kind: str) -> st.SearchStrategy[dict]:
    planted = {
        "token": st.just(CANARY_SECRET),
        "secret": st.just(CANARY_SECRET),
        "url": st.sampled_from([CANARY_SECRET, "https://hooks.slack.test/x/" + CANARY_SECRET]),
        "approle": st.fixed_dictionaries(
            {"secret_id": st.just(CANARY_SECRET)}, optional={"role_id": config_shapes}
        ),
    }
    return st.fixed_dictionaries(
        {"type": st.just(kind)},
        optional={
            **{key: planted[key] | config_shapes for key in SECRET_KEYS[kind]},
            "path": config_shapes,
            "colour": config_shapes,
        },
    )


secret_tables = st.sampled_from(sorted(SECRET_KEYS)).flatmap(_secret_table)


@FUZZ
@given(secret_tables, st.sampled_from(["alerts", "sinks"]))
def test_a_secret_in_a_broken_config_never_reaches_the_error(table, where):
    if where == "alerts":
        data = {"alerts": [table]}
    else:
        policy = {"name": "media", "connection": "prod", "spaces_key": "k", "sinks": [table]}
        data = {"policies": [policy]}
    result = outcome(lambda: parse_config(data))
    assert isinstance(result, FileConfig | ConfigError)
