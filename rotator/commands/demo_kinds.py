"""The demo's other credential kinds: a Functions key, a GenAI agent key, registry credentials.

Each is arranged in the sandbox, written as one more policy pushing into the
demo app (and Vault when OpenBao runs), rotated, and checked: the values
every sink holds must open the new credential.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rotator.sandbox.openbao import OpenBao

if TYPE_CHECKING:
    from rotator.commands.demo import Walkthrough
    from rotator.sandbox import Sandbox


@dataclass(frozen=True)
class OtherKinds:
    """The Functions namespace, GenAI agent and registry whose credentials the demo rotates."""

    namespace: str
    agent: str
    registry: str = "demo-registry"

    @classmethod
    def arrange(cls, sandbox: Sandbox) -> OtherKinds:
        namespace = sandbox.add_function_namespace("demo-functions")
        sandbox.add_function_key(namespace, "demo-fn")
        agent = sandbox.add_genai_agent("demo-support")
        sandbox.add_agent_key(agent, "demo-agent")
        return cls(namespace, agent)

    def policies(self, app_id: str, vault: OpenBao | None) -> str:
        def sinks(env: str, path: str) -> str:
            text = f"""
[[policies.sinks]]
type = "app_platform"
app_id = "{app_id}"
component = "web"
env = {{ {env} }}
"""
            if vault:
                text += f"""
[[policies.sinks]]
type = "vault"
url = "{vault.url}"
mount = "secret"
path = "{path}"
token_file = "{vault.token_file}"
"""
            return text

        return f"""
[[policies]]
name = "functions"
connection = "prod"
kind = "functions_key"
namespace = "{self.namespace}"
key = "demo-fn"
expires_in = "90d"
grace = "1h"
{sinks('FN_KEY_ID = "key_id", FN_SECRET = "secret"', "functions/key")}
[[policies]]
name = "agent"
connection = "prod"
kind = "genai_agent_key"
agent = "{self.agent}"
key = "demo-agent"
grace = "1h"
{sinks('AGENT_API_KEY = "api_key"', "agent/key")}
[[policies]]
name = "registry"
connection = "prod"
kind = "registry_credentials"
registry = "{self.registry}"
expires_in = "40d"
grace = "1h"
{sinks('DOCKER_CONFIG_JSON = "dockerconfigjson"', "registry/docker")}"""

    def opens(self, sandbox: Sandbox, policy: str, values: dict[str, str]) -> bool:
        """Whether the values a sink holds open a live key of *policy*'s kind."""
        if policy == "functions":
            return sandbox.function_key_opens(
                self.namespace, values.get("key_id", ""), values.get("secret", "")
            )
        if policy == "registry":
            try:
                auths = json.loads(values.get("dockerconfigjson", "{}"))["auths"]
                [entry] = auths.values()
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, KeyError, TypeError):
                return False
            return sandbox.registry_login_works(self.registry, user, password)
        return sandbox.agent_key_opens(self.agent, values.get("api_key", ""))


def rotate_other_kinds(
    walk: Walkthrough, sandbox: Sandbox, app_id: str, vault: OpenBao | None, kinds: OtherKinds
) -> None:
    targets = {
        "functions": ({"FN_KEY_ID": "key_id", "FN_SECRET": "secret"}, "functions/key"),
        "agent": ({"AGENT_API_KEY": "api_key"}, "agent/key"),
        "registry": ({"DOCKER_CONFIG_JSON": "dockerconfigjson"}, "registry/docker"),
    }
    for policy, (env_names, path) in targets.items():
        result = json.loads(walk.run("rotate", policy, "--json"))
        walk.say(
            f"{policy}: {result.get('status')}, {result.get('old_access_key')} -> "
            f"{result.get('new_access_key')}; "
            + ", ".join(f"{s['name']} {s['status']}" for s in result.get("sinks", []))
        )
        env = sandbox.app_running_env(app_id, "web")
        in_app = {field: env.get(name, "") for name, field in env_names.items()}
        opens = kinds.opens(sandbox, policy, in_app)
        walk.say(f"{policy}: the app's {', '.join(env_names)} open the new key: {opens}")
        found = vault.read("secret", path) if vault else None
        stored = found.get("data") if isinstance(found, dict) else None
        in_vault = kinds.opens(sandbox, policy, stored or {}) if vault else True
        if vault:
            walk.say(f"{policy}: Vault secret/{path} opens the new key: {in_vault}")
        if result.get("status") != "succeeded" or not opens or not in_vault:
            walk.surprises.append(f"policy {policy}: a sink does not serve the new key")
