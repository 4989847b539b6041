"""One timestamp format in everything the CLI prints: ISO 8601 UTC to the second, with Z."""

from __future__ import annotations

import re

from tests.support.cli import ROTATION_SCOPES, media_policy

# Anything that looks like a time of day after a date, in any of the usual spellings.
ANY_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?: ?(?:Z|UTC|[+-]\d{2}:?\d{2}))?"
)
ONE_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def times(text: str) -> list[str]:
    return ANY_TIME.findall(text)


def test_status_history_and_connection_tables_use_one_format(initialised, sandbox):
    initialised.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "2s"\n'
        + media_policy(sandbox.app_ids()[0], grace="1h")
    )
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    rotated = initialised("rotate", "media")
    assert rotated.code == 0, rotated.output
    shown = {}
    for argv in (
        ("status",),
        ("history",),
        ("connection", "list"),
        ("connection", "show", "prod"),
        ("connection", "audit", "prod"),
    ):
        result = initialised(*argv)
        assert result.code == 0, (argv, result.output)
        shown[argv] = times(result.stdout)
    # The status table shows last-validated, next-due and revoke times together.
    assert len(shown[("status",)]) >= 3, shown
    assert len(shown[("history",)]) >= 3, shown
    odd = {argv: [t for t in found if not ONE_FORMAT.fullmatch(t)] for argv, found in shown.items()}
    assert all(not found for found in odd.values()), odd


def test_the_rotation_result_names_the_revoke_time_in_the_same_format(initialised, sandbox):
    initialised.config.write_text(media_policy(sandbox.app_ids()[0], grace="1h"))
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    result = initialised("rotate", "media")
    assert result.code == 0, result.output
    found = times(result.stdout) + times(result.stderr)
    assert found, result.output
    assert [t for t in found if not ONE_FORMAT.fullmatch(t)] == []
