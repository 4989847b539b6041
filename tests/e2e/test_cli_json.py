"""`--json` on every command that reports anything: exactly one JSON document on stdout."""

from __future__ import annotations

import json
import re

from tests.support.cli import ROTATION_SCOPES, media_policy

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def document(result):
    """The one JSON document on stdout (json.loads fails on anything more)."""
    return json.loads(result.stdout)


def configured(initialised, sandbox):
    initialised.config.write_text(
        '[digitalocean]\nretries = 1\ntimeout = "2s"\n' + media_policy(sandbox.app_ids()[0])
    )
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    return initialised


def test_init_json_names_the_state_dir_store_and_key_file_and_what_it_created(rotator):
    first = rotator("init", "--json")
    assert first.code == 0, first.output
    made = document(first)
    assert made["state_dir"] == str(rotator.state_dir)
    assert made["store"] == str(rotator.store_path)
    assert made["master_key_file"] == str(rotator.state_dir / "master.key")
    assert made["created"] == [made["master_key_file"], made["store"]]
    assert re.fullmatch(r"[0-9a-f]+", made["key_id"])
    again = document(rotator("init", "--json"))
    assert again["created"] == []
    assert again["key_id"] == made["key_id"]


def test_rekey_json_counts_the_resealed_records_under_the_new_key_id(initialised, sandbox):
    assert initialised.add("prod", sandbox.add_token(["account:read"])).code == 0
    before = document(initialised("init", "--json"))["key_id"]
    result = initialised("rekey", "--json")
    assert result.code == 0, result.output
    done = document(result)
    assert done["resealed"] >= 1
    assert done["previous_key_id"] == before
    assert done["key_id"] != before
    assert done["installed"] is True
    assert done["action_needed"] is None
    assert document(initialised("init", "--json"))["key_id"] == done["key_id"]


def test_config_check_json_says_ok_with_a_summary(initialised, sandbox):
    rotator = configured(initialised, sandbox)
    result = rotator("config", "check", "--json")
    assert result.code == 0, result.output
    report = document(result)
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["config"] == str(rotator.config)
    assert report["summary"]["policies"] == 1


def test_config_check_json_lists_each_problem_with_its_location_and_exits_2(initialised, sandbox):
    initialised.config.write_text(media_policy(sandbox.app_ids()[0], spaces_key="no-such-key"))
    assert initialised.add("prod", sandbox.add_token(ROTATION_SCOPES)).code == 0
    result = initialised("config", "check", "--json")
    assert result.code == 2, result.output
    report = document(result)
    assert report["ok"] is False
    (problem,) = report["problems"]
    assert problem["location"] == "policies[0].spaces_key"
    assert "no-such-key" in problem["message"]
    assert problem["source"] == str(initialised.config)


def test_config_check_json_reports_a_broken_file_as_a_problem_not_a_crash(initialised):
    initialised.config.write_text("[daemon]\nvalidate_every = 12\nnot_an_option = 1\n")
    result = initialised("config", "check", "--json")
    assert result.code == 2, result.output
    report = document(result)
    assert report["ok"] is False and len(report["problems"]) >= 1
    assert "summary" not in report
    assert "Traceback" not in result.output


def test_config_check_json_keeps_notes_out_of_the_problems(initialised, sandbox):
    rotator = configured(initialised, sandbox)
    result = rotator(
        "config",
        "check",
        "--json",
        env={
            "ROTATOR_DO_API_URL": "http://127.0.0.1:9",
            "ROTATOR_DO_OAUTH_URL": "http://127.0.0.1:9",
        },
    )
    assert result.code == 0, result.output
    report = document(result)
    assert report["ok"] is True
    assert any(note.startswith("policies[0]") for note in report["notes"]), report
    assert "note:" not in result.stderr


def test_run_once_json_reports_each_job_with_its_items(initialised, sandbox):
    rotator = configured(initialised, sandbox)
    result = rotator("run", "--once", "--json")
    assert result.code == 0, result.output
    report = document(result)
    assert report["ok"] is True
    jobs = {job["job"]: job for job in report["jobs"]}
    assert "rotate" in jobs  # a job runs when due: the token was validated when added
    rotate = jobs["rotate"]
    # The sandbox's key is younger than `every`: looked at, left for later.
    assert rotate["items"] == 1 and rotate["deferred"] == 1
    assert rotate["succeeded"] == 0 and rotate["failed"] == 0
    assert rotate["outcomes"] == {"not_due": 1}
    for job in jobs.values():
        assert job["items"] == job["succeeded"] + job["failed"] + job["deferred"], job
    assert all(job["failed"] == 0 and job["error"] is None for job in jobs.values())


def test_run_json_without_once_is_a_usage_error(initialised):
    result = initialised("run", "--json")
    assert result.code == 2
    assert "--json goes with --once" in result.stderr
    assert result.stdout == ""


def test_connection_remove_json_names_what_was_removed(initialised, sandbox):
    assert initialised.add("old", sandbox.add_token(["account:read"])).code == 0
    result = initialised("connection", "remove", "old", "--yes", "--json")
    assert result.code == 0, result.output
    assert document(result) == {"removed": "old"}


def test_every_time_in_a_json_document_is_iso_8601_utc_to_the_second(initialised, sandbox):
    rotator = configured(initialised, sandbox)
    assert rotator("rotate", "media").code == 0
    times = []

    def collect(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                collect(v, k)
        elif isinstance(value, list):
            for v in value:
                collect(v, key)
        elif isinstance(value, str) and (key.endswith("_at") or key.endswith("_after")):
            times.append((key, value))

    for argv in (("status",), ("connection", "list"), ("connection", "validate"), ("history",)):
        collect(document(rotator(*argv, "--json")))
    assert {key for key, _ in times} >= {"last_validated_at", "next_due_at", "created_at"}
    assert [(k, v) for k, v in times if not STAMP.match(v)] == []
