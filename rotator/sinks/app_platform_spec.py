"""The App Platform sink's spec editing: pure functions of an app spec, no requests.

A PUT replaces the whole spec, so the sink sends back exactly what it read
with only its own env entries changed. This module finds where those
entries live (app level or one component), refuses specs where a change
would not reach the app (a component shadowing an app-level value, a
database named as the component, a key defined twice), edits a deep copy,
and compares specs before and after a push. :mod:`rotator.sinks.app_platform`
makes the calls and follows the deployments.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from rotator.digitalocean import apps
from rotator.errors import SinkError

DEFAULT_SCOPE = "RUN_AND_BUILD_TIME"
Owned = tuple[dict[str, Any] | None, ...]
"""The owned entries as a spec shows them, in mapping order (None: absent)."""


@dataclass(frozen=True)
class EnvTarget:
    """The env vars a sink owns, at app level or in one component of one app."""

    label: str  # the sink's label, for errors
    app_id: str
    component: str | None
    mapping: tuple[tuple[str, str], ...]
    """(env var name, credential field), in order."""

    @property
    def names(self) -> tuple[str, ...]:
        """The owned env var names."""
        return tuple(name for name, _ in self.mapping)

    @property
    def shown(self) -> str:
        """The owned names as messages show them: ``A/B``."""
        return "/".join(self.names)

    @property
    def where(self) -> str:
        """``<app id>[/<component>]``, as messages name the target."""
        return self.app_id + (f"/{self.component}" if self.component else "")

    def env_holder(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The dict whose ``envs`` the sink owns two entries of: the spec or a component."""
        if self.component is None:
            self.refuse_shadowing(spec)
            return spec
        for kind in apps.COMPONENT_KINDS:
            for component in _components(spec, kind):
                if component.get("name") == self.component:
                    return component
        if any(db.get("name") == self.component for db in _components(spec, "databases")):
            raise SinkError(
                self.label,
                f"component {self.component!r} of app {self.app_id} is a database, which "
                "has no env vars; name the service, worker, job, static site or function "
                "that uses the key",
            )
        names = [
            str(c.get("name")) for kind in apps.COMPONENT_KINDS for c in _components(spec, kind)
        ]
        raise SinkError(
            self.label,
            f"app {self.app_id} has no component {self.component!r} "
            f"(its components: {', '.join(names) or 'none'})",
        )

    def refuse_shadowing(self, spec: dict[str, Any]) -> None:
        """An app-level value a component overrides would never reach that component."""
        for kind in apps.COMPONENT_KINDS:
            for component in _components(spec, kind):
                envs = component.get("envs")
                keys = {e.get("key") for e in envs if isinstance(e, dict)} if envs else set()
                for key in self.names:
                    if key in keys:
                        raise SinkError(
                            self.label,
                            f"component {component.get('name')!r} of app {self.app_id} sets "
                            f"{key} itself, which overrides the app-level value; configure "
                            f"component = {component.get('name')!r} for this sink",
                        )

    def env_list(self, spec: dict[str, Any], *, create: bool) -> list[Any] | None:
        holder = self.env_holder(spec)
        envs = holder.get("envs")
        if envs is None and create:
            envs = holder["envs"] = []
        if envs is not None and not isinstance(envs, list):
            raise SinkError(self.label, f"the envs of app {self.where} are not a list")
        return envs

    def edited(self, spec: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
        """A deep copy of ``spec`` with only the owned entries set (or appended).

        *values* maps each credential field to its (revealed) value.
        """
        edited = copy.deepcopy(spec)
        envs = self.env_list(edited, create=True)
        assert envs is not None  # created above
        for key, field in self.mapping:
            value = values[field]
            found = [i for i, e in enumerate(envs) if isinstance(e, dict) and e.get("key") == key]
            if len(found) > 1:
                raise SinkError(self.label, f"app {self.where} defines {key} more than once")
            scope = (envs[found[0]].get("scope") if found else None) or DEFAULT_SCOPE
            entry = {"key": key, "value": value, "scope": scope, "type": "SECRET"}
            if found:
                envs[found[0]] = entry
            else:
                envs.append(entry)
        return edited

    def owned(self, spec: Any) -> Owned | None:
        """The two owned entries as the spec shows them (None when the spec is unusable)."""
        if not isinstance(spec, dict):
            return None
        try:
            envs = self.env_list(spec, create=False) or []
        except SinkError:
            return None

        def entry(key: str) -> dict[str, Any] | None:
            return next((e for e in envs if isinstance(e, dict) and e.get("key") == key), None)

        return tuple(entry(name) for name in self.names)

    def without_owned(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec minus the owned entries: what a push must leave exactly as it was."""
        rest = copy.deepcopy(spec)
        holder = self.env_holder(rest)
        envs = holder.get("envs")
        if isinstance(envs, list):
            owned = self.names
            kept = [e for e in envs if not (isinstance(e, dict) and e.get("key") in owned)]
            if kept:
                holder["envs"] = kept
            else:  # a list the push created (or emptied) counts as absent
                holder.pop("envs")
        return rest


def _components(spec: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    items = spec.get(kind)
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]
