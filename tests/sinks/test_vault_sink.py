"""The Vault sink against a real OpenBao dev server: writes, marks, skips, merges, refuses."""

from __future__ import annotations

import pytest

from rotator.errors import SinkError
from rotator.sinks import SINK_TYPES, SinkDeps, build_sink
from rotator.sinks.vault import VaultSink, VaultSinkConfig
from tests.sinks.vault_support import KV1_MOUNT, STRICT_MOUNT, new_pair


@pytest.mark.parametrize("mount", ["secret", STRICT_MOUNT])
def test_first_push_creates_the_secret_with_cas_zero_and_marks_it(
    vault, make_sink, kv_path, pair, context, mount
):
    # kv-strict requires cas on every write, and Vault accepts cas=0 only for
    # a key that does not exist yet: success there proves the cas sent was 0.
    sink = make_sink(mount=mount)

    confirmation = sink.push(pair, context)

    assert confirmation.sink == sink.label
    assert confirmation.detail == {"version": "1", "path": f"{mount}/{kv_path}"}
    stored = vault.read(mount, kv_path)
    assert stored["data"] == {"access_key": pair.access_key, "secret_key": pair.secret_key.reveal()}
    assert vault.metadata(mount, kv_path)["custom_metadata"] == {
        "managed-by": "rotator",
        "rotator-policy": "media",
        "rotator-access-key": pair.access_key,
        "rotator-rotated-at": "2026-01-02T03:04:05+00:00",
        "rotator-rotation-id": "r-0001",
    }


@pytest.mark.parametrize("mount", ["secret", STRICT_MOUNT])
def test_a_second_push_of_a_new_pair_writes_the_next_version(
    vault, make_sink, kv_path, pair, context, mount
):
    sink = make_sink(mount=mount)
    sink.push(pair, context)
    newer = new_pair()

    confirmation = sink.push(newer, context)

    assert confirmation.detail["version"] == "2"
    assert vault.read(mount, kv_path)["data"]["access_key"] == newer.access_key
    assert vault.read(mount, kv_path, version=1)["data"]["access_key"] == pair.access_key
    assert vault.metadata(mount, kv_path)["custom_metadata"]["rotator-access-key"] == (
        newer.access_key
    )
    assert sink.holds() == newer.access_key


def test_pushing_the_same_pair_again_writes_nothing(vault, make_sink, kv_path, pair, context):
    sink = make_sink()
    sink.push(pair, context)
    before = vault.metadata("secret", kv_path)

    confirmation = sink.push(pair, context)

    assert confirmation.detail == {"version": "1", "path": f"secret/{kv_path}"}
    after = vault.metadata("secret", kv_path)
    assert after["current_version"] == 1
    # Not even the mark was rewritten.
    assert after["updated_time"] == before["updated_time"]


def test_a_pair_already_written_but_unmarked_is_only_marked(
    vault, make_sink, kv_path, pair, context
):
    # What a crash between the data write and the mark leaves behind.
    vault.write(
        "secret", kv_path, {"access_key": pair.access_key, "secret_key": pair.secret_key.reveal()}
    )

    confirmation = make_sink().push(pair, context)

    assert confirmation.detail["version"] == "1"
    assert vault.metadata("secret", kv_path)["custom_metadata"]["managed-by"] == "rotator"


def test_the_same_access_key_with_another_secret_is_rewritten(
    vault, make_sink, kv_path, pair, context
):
    vault.write("secret", kv_path, {"access_key": pair.access_key, "secret_key": "stale"})

    confirmation = make_sink().push(pair, context)

    assert confirmation.detail["version"] == "2"
    assert vault.read("secret", kv_path)["data"]["secret_key"] == pair.secret_key.reveal()


def test_fields_and_metadata_rotator_does_not_own_survive_each_push(
    vault, make_sink, kv_path, pair, context
):
    vault.write("secret", kv_path, {"bucket": "media", "region": "ams3", "access_key": "OLD"})
    vault.mark("secret", kv_path, {"team": "media", "ticket": "OPS-12"})
    sink = make_sink()

    sink.push(pair, context)
    sink.push(new_pair(), context)

    data = vault.read("secret", kv_path)["data"]
    assert data["bucket"] == "media"
    assert data["region"] == "ams3"
    custom = vault.metadata("secret", kv_path)["custom_metadata"]
    assert custom["team"] == "media"
    assert custom["ticket"] == "OPS-12"
    assert custom["managed-by"] == "rotator"


def test_custom_field_names_are_used(vault, make_sink, kv_path, pair, context):
    sink = make_sink(access_key_field="AWS_ACCESS_KEY_ID", secret_key_field="AWS_SECRET_ACCESS_KEY")

    sink.push(pair, context)

    assert vault.read("secret", kv_path)["data"] == {
        "AWS_ACCESS_KEY_ID": pair.access_key,
        "AWS_SECRET_ACCESS_KEY": pair.secret_key.reveal(),
    }
    assert sink.holds() == pair.access_key


@pytest.mark.parametrize(
    ("mark", "owner"),
    [
        ({"managed-by": "rotator", "rotator-policy": "billing"}, "rotator policy 'billing'"),
        ({"managed-by": "terraform"}, "'terraform'"),
        ({"managed-by": "rotator"}, "rotator with no policy recorded"),
    ],
)
def test_a_path_marked_by_another_owner_is_refused_and_left_unchanged(
    vault, make_sink, kv_path, pair, context, mark, owner
):
    vault.write("secret", kv_path, {"access_key": "THEIRS", "secret_key": "theirs"})
    vault.mark("secret", kv_path, mark)
    before = vault.metadata("secret", kv_path)
    sink = make_sink()

    with pytest.raises(SinkError, match=f"path secret/{kv_path} .* is owned by {owner}"):
        sink.push(pair, context)
    with pytest.raises(SinkError, match="is owned by"):
        sink.describe_push(pair.access_key, context)

    after = vault.metadata("secret", kv_path)
    assert after == before
    assert vault.read("secret", kv_path)["data"] == {"access_key": "THEIRS", "secret_key": "theirs"}


def test_check_refuses_another_policy_only_when_it_knows_its_own(vault, make_sink, kv_path):
    vault.write("secret", kv_path, {"x": "1"})
    vault.mark("secret", kv_path, {"managed-by": "rotator", "rotator-policy": "billing"})

    make_sink().check()  # no policy known: a rotator mark may be ours
    make_sink(policy="billing").check()
    with pytest.raises(SinkError, match="owned by rotator policy 'billing'"):
        make_sink(policy="media").check()


def test_a_path_left_by_a_deleted_version_is_written_with_the_current_version_as_cas(
    vault, make_sink, kv_path, pair, context
):
    vault.write("secret", kv_path, {"access_key": "OLD", "note": "gone"})
    vault.api("DELETE", f"secret/data/{kv_path}")  # soft-delete version 1

    confirmation = make_sink().push(pair, context)

    assert confirmation.detail["version"] == "2"
    # The deleted version's fields are not brought back.
    assert set(vault.read("secret", kv_path)["data"]) == {"access_key", "secret_key"}


def test_describe_push_says_what_would_change_and_changes_nothing(
    vault, make_sink, kv_path, pair, context
):
    vault.write("secret", kv_path, {"bucket": "media"})
    vault.write("secret", kv_path, {"bucket": "media", "access_key": "OLD", "secret_key": "old"})
    before = vault.metadata("secret", kv_path)
    sink = make_sink()

    lines = sink.describe_push(pair.access_key, context)

    assert lines[0] == (
        f"write access_key={pair.access_key}, secret_key=<new secret> "
        f"to secret/{kv_path} (now version 2, cas=2)"
    )
    assert f"keep the other fields of secret/{kv_path}: bucket" in lines
    assert any("managed-by=rotator" in line and "rotator-policy=media" in line for line in lines)
    assert vault.metadata("secret", kv_path) == before


def test_describe_push_of_a_new_path_and_of_a_pair_already_there(
    vault, make_sink, kv_path, pair, context
):
    sink = make_sink()
    assert sink.describe_push(pair.access_key, context)[0].endswith(
        f"to secret/{kv_path} (new secret, cas=0)"
    )
    assert vault.metadata("secret", kv_path) is None

    sink.push(pair, context)

    assert sink.describe_push(pair.access_key, context) == [
        f"secret/{kv_path} already holds access_key={pair.access_key} (version 1): no write"
    ]


def test_holds_names_the_stored_access_key_or_none(vault, make_sink, kv_path, pair, context):
    sink = make_sink()
    assert sink.holds() is None

    sink.push(pair, context)

    assert sink.holds() == pair.access_key


def test_check_passes_for_a_writable_kv2_path(vault, make_sink, pair, context):
    sink = make_sink(policy="media")
    sink.check()
    sink.push(pair, context)
    sink.check()


def test_check_refuses_a_missing_mount(vault, make_sink):
    with pytest.raises(SinkError, match=r"no mount 'nowhere' this token can see"):
        make_sink(mount="nowhere").check()


def test_push_refuses_a_kv_version_1_mount(vault, make_sink, pair, context):
    with pytest.raises(
        SinkError, match=rf"mount '{KV1_MOUNT}' .* is KV version 1, not KV version 2"
    ):
        make_sink(mount=KV1_MOUNT).push(pair, context)


def test_the_registry_builds_a_vault_sink_from_its_config(vault, kv_path):
    config = VaultSinkConfig(type="vault", url=vault.url, path=kv_path, token=vault.root_token)

    sink = build_sink(config, SinkDeps())
    try:
        assert isinstance(sink, VaultSink)
        assert SINK_TYPES["vault"] is VaultSink
        assert sink.label == f"vault:secret/{kv_path}"
        sink.check()
    finally:
        sink.close()


def test_a_token_file_is_read_for_the_token(vault, make_sink, tmp_path, pair, context):
    token_file = tmp_path / "vault-token"
    token_file.write_text(vault.root_token + "\n")

    sink = make_sink(token_file=str(token_file))

    assert sink.push(pair, context).detail["version"] == "1"
