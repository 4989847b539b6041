"""Limits on what an operator may write: durations, ports, empty variables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rotator.durations import MAX_DURATION, parse_duration
from rotator.errors import ConfigError
from rotator.settings import load_settings, parse_config


@pytest.mark.parametrize(
    "text", ["999999999d", "36501d", "5215w", "9" * 30 + "s", "1" * 5000 + "m"]
)
def test_a_duration_beyond_a_century_is_refused_in_one_short_line(text):
    with pytest.raises(ValueError, match="longer than the maximum 36500d") as caught:
        parse_duration(text)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("text", ["\uff11h", "\u0661d", "1h 30m", "1.5h", "-5m"])
def test_only_ascii_whole_numbers_make_a_duration(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_the_longest_duration_still_fits_a_date():
    assert parse_duration("36500d") == MAX_DURATION
    assert parse_duration(timedelta(0)) == timedelta(0)  # from code, e.g. a grace of zero


def test_a_huge_duration_in_the_config_names_its_location():
    with pytest.raises(ConfigError, match=r"daemon.validate_every: invalid duration '999999999d'"):
        parse_config({"daemon": {"validate_every": "999999999d"}})


@pytest.mark.parametrize("address", ["127.0.0.1:0", "127.0.0.1:9464", "[::1]:65535"])
def test_a_health_address_with_a_real_port_is_accepted(address):
    assert parse_config({"daemon": {"health_listen": address}}).daemon.health_listen == address


@pytest.mark.parametrize("address", ["127.0.0.1:65536", ":99999", "[::1]:70000"])
def test_a_port_above_65535_is_refused(address):
    with pytest.raises(ConfigError, match=r"daemon\.health_listen: expected host:port"):
        parse_config({"daemon": {"health_listen": address}})


@pytest.mark.parametrize(
    "variable",
    ["ROTATOR_MASTER_KEY", "ROTATOR_STATE_DIR", "ROTATOR_CONFIG", "ROTATOR_MASTER_KEY_FILE"],
)
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_variable_is_an_error_not_the_default(tmp_path, variable, value):
    with pytest.raises(ConfigError) as caught:
        load_settings({"HOME": str(tmp_path), variable: value})
    assert caught.value.problems == [f"{variable}: set but empty (unset it to use the default)"]


def test_a_deeply_nested_config_is_one_config_error(tmp_path):
    path = tmp_path / "rotator.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_settings({"HOME": str(tmp_path)}, config_path=path)
