"""The credential-kind contract: config keys per kind, scopes, fields, the sealed form."""

from __future__ import annotations

import pytest

from rotator.credentials import KIND_NAMES, KINDS, Credential, KeyPair
from rotator.errors import ConfigError, StoreCorrupt
from rotator.secret import Secret
from rotator.settings import PolicyConfig, parse_config

VAULT = {"type": "vault", "url": "http://127.0.0.1:1", "path": "p", "token": "t"}
AGENT = "123e4567-e89b-12d3-a456-426614174000"


def policy(**keys: object) -> PolicyConfig:
    table = {"name": "p", "connection": "c", "sinks": [VAULT], **keys}
    return parse_config({"policies": [table]}).policies[0]


def problems(**keys: object) -> str:
    with pytest.raises(ConfigError) as caught:
        policy(**keys)
    return str(caught.value)


def test_a_policy_naming_a_spaces_key_is_of_the_spaces_key_kind_as_before():
    assert policy(spaces_key="DO00X").kind == "spaces_key"
    assert policy(kind="spaces_key", spaces_key="DO00X").kind_options() == {"spaces_key": "DO00X"}


def test_each_kind_takes_its_own_keys_and_no_other_kinds_keys():
    fn = policy(kind="functions_key", namespace="fn-1", key="k", expires_in="90d")
    assert fn.kind_options() == {"namespace": "fn-1", "key": "k", "expires_in": "90d"}
    assert policy(kind="genai_agent_key", agent=AGENT, key="k").kind == "genai_agent_key"
    reg = policy(kind="registry_credentials", registry="media", expires_in="40d")
    assert reg.kind_options() == {"registry": "media", "expires_in": "40d"}
    assert "takes no spaces_key" in problems(
        kind="functions_key", namespace="n", key="k", spaces_key="DO00X"
    )
    assert "needs namespace, key" in problems(kind="functions_key")
    assert "set kind" in problems()
    assert "kind" in problems(kind="database_user")


def test_option_values_each_kind_refuses():
    assert "agent must be the agent's UUID" in problems(kind="genai_agent_key", agent="x", key="k")
    assert "expires_in must be" in problems(
        kind="functions_key", namespace="fn-1", key="k", expires_in="30m"
    )
    assert "must outlast every + grace" in problems(
        kind="registry_credentials", registry="media", expires_in="30d"
    )
    assert "access must be" in problems(
        kind="registry_credentials", registry="media", expires_in="90d", access="all"
    )


def test_a_sink_mapping_a_field_the_kind_lacks_is_refused():
    app = {"type": "app_platform", "app_id": "a", "env": {"TOKEN": "api_key"}}
    message = problems(kind="functions_key", namespace="fn-1", key="k", sinks=[app])
    assert "maps api_key, which a functions_key does not have" in message
    pair = {"type": "app_platform", "app_id": "a", "access_key_env": "A", "secret_key_env": "B"}
    assert "maps access_key, secret_key" in problems(
        kind="genai_agent_key", agent=AGENT, key="k", sinks=[pair]
    )
    both = {**pair, "env": {"X": "access_key"}}
    assert "not both" in problems(spaces_key="DO00X", sinks=[both])


def test_the_audit_requires_each_kinds_scopes():
    assert policy(spaces_key="DO00X").rotation_scopes() == {
        "spaces_key:read",
        "spaces_key:create_credentials",
        "spaces_key:delete",
    }
    fn = policy(kind="functions_key", namespace="fn-1", key="k")
    assert fn.rotation_scopes() == {"function:admin"}
    agent = policy(kind="genai_agent_key", agent=AGENT, key="k")
    assert agent.rotation_scopes() == {"genai:read", "genai:create", "genai:delete"}
    reg = policy(kind="registry_credentials", registry="media", expires_in="90d")
    assert reg.rotation_scopes() == {"registry:read", "registry:update"}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_kind_declares_its_contract(kind):
    assert KIND_NAMES[kind.kind] is kind
    assert kind.fields and kind.secret_fields <= set(kind.fields)
    assert kind.identifier_field is None or kind.identifier_field in kind.fields
    assert set(kind.required) <= set(kind.option_keys)
    assert kind.downtime


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_the_sealed_form_opens_to_the_same_credential(kind):
    values = {
        name: (Secret(f"s-{name}") if name in kind.secret_fields else f"v-{name}")
        for name in kind.fields
    }
    if kind.identifier_field is not None:
        values[kind.identifier_field] = "ident"
    credential = Credential("ident", values, kind.identifier_field)
    bound = kind("p", {}, None)  # type: ignore[arg-type]  # sealing sends nothing
    assert bound.unseal("ident", bound.seal(credential)) == credential


def test_a_sealed_credential_of_another_shape_is_refused():
    bound = KIND_NAMES["genai_agent_key"]("p", {}, None)  # type: ignore[arg-type]
    with pytest.raises(StoreCorrupt):
        bound.unseal("ident", Secret('{"other": "x"}'))


def test_a_credential_shows_no_secret_and_a_key_pair_is_the_spaces_key_case():
    secret = "not-to-be-shown-1234"
    credential = Credential("id-1", {"api_key": Secret(secret)}, None)
    assert secret not in repr(credential)
    assert credential.secret_key.reveal() == secret
    pair = KeyPair("DO00X", Secret("s"))
    assert pair.fields() == {"access_key": "DO00X", "secret_key": pair.secret_key}
    assert pair == Credential("DO00X", {"access_key": "DO00X", "secret_key": Secret("s")})
    assert pair.access_key == "DO00X"
