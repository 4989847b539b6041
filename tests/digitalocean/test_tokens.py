from __future__ import annotations

import dataclasses
import hashlib

import pytest

from rotator.digitalocean.tokens import LEGACY_WARNING, parse_token
from rotator.errors import InvalidTokenFormat, UsageError

HEX = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "kind"),
    [("dop_v1_" + HEX, "personal"), ("doo_v1_" + HEX, "oauth"), (HEX, "legacy")],
)
def test_each_kind_of_api_token_is_recognised(text: str, kind: str) -> None:
    token = parse_token(text)

    assert token.kind == kind
    assert token.secret.reveal() == text


def test_surrounding_whitespace_and_a_trailing_newline_are_dropped() -> None:
    token = parse_token("  dop_v1_" + HEX + "\r\n")

    assert token.secret.reveal() == "dop_v1_" + HEX


def test_a_personal_token_carries_no_warning() -> None:
    assert parse_token("dop_v1_" + HEX).warning is None


def test_a_legacy_token_is_accepted_with_a_warning_to_replace_it() -> None:
    token = parse_token(HEX)

    assert token.warning == LEGACY_WARNING
    assert "replace" in token.warning


def test_a_refresh_token_is_refused_with_its_own_message() -> None:
    text = "dor_v1_" + HEX

    with pytest.raises(InvalidTokenFormat) as caught:
        parse_token(text)

    assert "refresh token" in str(caught.value)
    assert text not in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("dop_v1_" + HEX.upper(), id="uppercase hex"),
        pytest.param("dop_v1_" + HEX[:-1], id="one character short"),
        pytest.param("dop_v1_" + HEX + "0", id="one character long"),
        pytest.param(HEX[:-1], id="legacy one short"),
        pytest.param("dop_v2_" + HEX, id="unknown version"),
        pytest.param("dox_v1_" + HEX, id="unknown kind"),
        pytest.param("dop_v1_" + HEX[:32] + " " + HEX[32:], id="space inside"),
        pytest.param("dop_v1_" + HEX[:-1] + "g", id="not hex"),
        pytest.param("Bearer dop_v1_" + HEX, id="with Bearer prefix"),
        pytest.param("", id="empty"),
        pytest.param(" \n", id="only whitespace"),
    ],
)
def test_anything_else_is_refused_without_repeating_the_text(text: str) -> None:
    with pytest.raises(InvalidTokenFormat) as caught:
        parse_token(text)

    message = str(caught.value)
    assert "dop_v1_" in message  # says what shape was expected
    if text.strip():
        assert text.strip() not in message
        assert text.strip()[7:] not in message  # not even the part after the prefix


def test_a_wrong_length_is_reported_by_length() -> None:
    with pytest.raises(InvalidTokenFormat, match="got 70 characters"):
        parse_token("dop_v1_" + HEX[:-1])


def test_uppercase_hex_is_called_out_as_the_problem() -> None:
    with pytest.raises(InvalidTokenFormat, match="lowercase"):
        parse_token("dop_v1_" + HEX.upper())


def test_a_bad_token_is_a_usage_error_so_the_cli_exits_2() -> None:
    with pytest.raises(UsageError) as caught:
        parse_token("nope")

    assert caught.value.exit_code == 2


def test_the_hash_and_fingerprint_are_those_of_the_stripped_token() -> None:
    token = parse_token("dop_v1_" + HEX + "\n")
    expected = hashlib.sha256(("dop_v1_" + HEX).encode()).hexdigest()

    assert token.sha256 == expected
    assert token.fingerprint == expected[:12]


def test_a_parsed_token_is_frozen_and_its_repr_hides_the_secret() -> None:
    token = parse_token("dop_v1_" + HEX)

    with pytest.raises(dataclasses.FrozenInstanceError):
        token.kind = "oauth"  # type: ignore[misc]
    assert HEX not in repr(token)
    assert token.fingerprint in repr(token)
