"""App specs: validation, env variables, and the EV form of secrets.

Env variables live at app level (``spec.envs``) and per component
(``services|workers|jobs|static_sites|functions[].envs``), each
``{key, value, scope, type}``. Internally the sandbox keeps plaintext; on
the way out every SECRET value is sealed (``EV[1:...]``). On the way in an
``EV[...]`` value this sandbox issued for the app is unsealed (the secret is
kept), an unknown one is refused, plaintext replaces the value, and a
variable left out is gone, because a PUT replaces the whole spec.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

from rotator.sandbox.calls import unprocessable
from rotator.sandbox.sealing import looks_sealed

COMPONENT_KINDS = ("services", "workers", "jobs", "static_sites", "functions")
NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
ENV_KEY = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
SCOPES = ("UNSET", "RUN_TIME", "BUILD_TIME", "RUN_AND_BUILD_TIME")
TYPES = ("GENERAL", "SECRET")
REGIONS = ("atl", "nyc", "sfo", "tor", "ams", "fra", "lon", "blr", "sgp", "syd")
# What a running component sees: everything but build-time-only variables.
RUNTIME_SCOPES = ("UNSET", "RUN_TIME", "RUN_AND_BUILD_TIME")


def env_lists(spec: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Every env list in a spec with where it lives (``app`` or ``<kind>.<name>``)."""
    if isinstance(spec.get("envs"), list):
        yield "app", spec["envs"]
    for kind in COMPONENT_KINDS:
        for component in spec.get(kind) or []:
            if isinstance(component, dict) and isinstance(component.get("envs"), list):
                yield f"{kind}.{component.get('name')}", component["envs"]


def component_names(spec: dict[str, Any]) -> list[str]:
    """The names of all components, in spec order."""
    return [
        str(component.get("name"))
        for kind in COMPONENT_KINDS
        for component in spec.get(kind) or []
        if isinstance(component, dict)
    ]


def _objects(where: str, items: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each object of the list at *where*, with its label; a 422 for anything else."""
    if not isinstance(items, list):
        raise unprocessable(f"{where} must be a list.")
    for index, item in enumerate(items):
        label = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise unprocessable(f"{label} must be an object.")
        yield label, item


def _check_envs(where: str, envs: Any, unseal: Callable[[str], str | None]) -> None:
    seen: set[str] = set()
    for label, env in _objects(f"{where}.envs", envs):
        key = env.get("key")
        if not isinstance(key, str) or not ENV_KEY.match(key):
            raise unprocessable(f"{label}.key must match {ENV_KEY.pattern}.")
        if key in seen:
            raise unprocessable(f"{where}.envs has the key {key} twice.")
        seen.add(key)
        env.setdefault("scope", "RUN_AND_BUILD_TIME")
        env.setdefault("type", "GENERAL")
        env.setdefault("value", "")
        if env["scope"] not in SCOPES:
            raise unprocessable(f"{label}.scope must be one of {', '.join(SCOPES)}.")
        if env["type"] not in TYPES:
            raise unprocessable(f"{label}.type must be one of {', '.join(TYPES)}.")
        if not isinstance(env["value"], str):
            raise unprocessable(f"{label}.value must be a string.")
        if looks_sealed(env["value"]):
            plaintext = unseal(env["value"])
            if plaintext is None:
                raise unprocessable(f"{label}.value is an encrypted value this app did not issue.")
            env["value"] = plaintext


def validate_spec(raw: Any, unseal: Callable[[str], str | None]) -> dict[str, Any]:
    """A normalised copy of ``raw`` with plaintext env values, or a 422 Problem."""
    if not isinstance(raw, dict):
        raise unprocessable("spec must be an object.")
    spec = copy.deepcopy(raw)
    name = spec.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise unprocessable(f"spec.name must match {NAME.pattern}.")
    if "region" in spec and spec["region"] not in REGIONS:
        raise unprocessable(f"spec.region must be one of {', '.join(REGIONS)}.")
    if "envs" in spec:
        _check_envs("spec", spec["envs"], unseal)
    names: set[str] = set()
    for kind in COMPONENT_KINDS:
        if kind not in spec:
            continue
        for where, component in _objects(f"spec.{kind}", spec[kind]):
            component_name = component.get("name")
            if not isinstance(component_name, str) or not NAME.match(component_name):
                raise unprocessable(f"{where}.name must match {NAME.pattern}.")
            if component_name in names:
                raise unprocessable(f"component name {component_name} is used twice.")
            names.add(component_name)
            if "envs" in component:
                _check_envs(where, component["envs"], unseal)
    return spec


def render_spec(spec: dict[str, Any], seal: Callable[[str], str]) -> dict[str, Any]:
    """A copy of ``spec`` as the API shows it: every SECRET value sealed."""
    shown = copy.deepcopy(spec)
    for _, envs in env_lists(shown):
        for env in envs:
            if env.get("type") == "SECRET":
                env["value"] = seal(str(env.get("value", "")))
    return shown


def running_env(spec: dict[str, Any], component: str | None) -> dict[str, str]:
    """The plaintext environment a running component sees (app-level only for None).

    Component variables override app-level ones with the same key.
    """
    env: dict[str, str] = {}
    sources = [spec.get("envs") or []]
    if component is not None:
        match = [
            c
            for kind in COMPONENT_KINDS
            for c in spec.get(kind) or []
            if c.get("name") == component
        ]
        if not match:
            raise KeyError(f"no component named {component!r}")
        sources.append(match[0].get("envs") or [])
    for envs in sources:
        for variable in envs:
            if variable.get("scope", "RUN_AND_BUILD_TIME") in RUNTIME_SCOPES:
                env[str(variable["key"])] = str(variable.get("value", ""))
    return env
