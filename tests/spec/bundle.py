"""Add upstream operations to the reduced spec copy, their ``$ref``s inlined.

    python -m tests.spec.bundle GIT_DIR COMMIT 'METHOD /path=resources/…/file.yml' ...

``GIT_DIR`` is a clone of github.com/digitalocean/openapi (a bare one will
do: files are read with ``git show COMMIT:specification/…``). Each operation
file is loaded, every ``$ref`` to another file (or to a pointer inside one)
is replaced by what it points at, recursively, ``x-codeSamples`` are
dropped, and the operation is put under its path and method in
``digitalocean-openapi.json``. Tags the operations use are added to
``tags``. Nothing else in the file changes. A reference cycle stops it.
"""

from __future__ import annotations

import json
import posixpath
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


class _TextTimes(yaml.SafeLoader):
    """YAML without the timestamp type: an unquoted ``2019-01-11T18:37:36Z`` stays text,
    as JSON (and the API) has it."""


_TextTimes.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SPEC = HERE / "digitalocean-openapi.json"


class Upstream:
    """Reads upstream files at one commit, each once."""

    def __init__(self, git_dir: str, commit: str) -> None:
        self.git_dir, self.commit = git_dir, commit
        self._files: dict[str, Any] = {}

    def load(self, path: str) -> Any:
        if path not in self._files:
            text = subprocess.run(
                ["git", "-C", self.git_dir, "show", f"{self.commit}:specification/{path}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            self._files[path] = yaml.load(text, Loader=_TextTimes)  # noqa: S506 (safe loader)
        return self._files[path]

    def resolve(self, node: Any, here: str, seen: tuple[str, ...] = ()) -> Any:
        """*node* (found in file *here*) with every ``$ref`` inlined."""
        if isinstance(node, list):
            return [self.resolve(item, here, seen) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target, _, pointer = str(node["$ref"]).partition("#")
            path = (
                posixpath.normpath(posixpath.join(posixpath.dirname(here), target))
                if target
                else here
            )
            key = f"{path}#{pointer}"
            if key in seen:
                raise SystemExit(f"reference cycle: {' -> '.join((*seen, key))}")
            value = self.load(path)
            for part in [p for p in pointer.split("/") if p]:
                value = value[part.replace("~1", "/").replace("~0", "~")]
            return self.resolve(value, path, (*seen, key))
        return {
            name: self.resolve(value, here, seen)
            for name, value in node.items()
            if name != "x-codeSamples"
        }


def main(argv: list[str]) -> int:
    git_dir, commit, *operations = argv
    upstream = Upstream(git_dir, commit)
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    tags = {tag["name"] for tag in spec.get("tags", [])}
    root = upstream.load("DigitalOcean-public.v2.yaml")
    for item in operations:
        where, _, file = item.partition("=")
        method, _, path = where.partition(" ")
        operation = upstream.resolve(upstream.load(file), file)
        spec["paths"].setdefault(path, {})[method.lower()] = operation
        for tag in operation.get("tags", []):
            if tag not in tags:
                known = next((t for t in root.get("tags", []) if t["name"] == tag), {"name": tag})
                spec.setdefault("tags", []).append(
                    upstream.resolve(known, "DigitalOcean-public.v2.yaml")
                )
                tags.add(tag)
    text = json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False)
    SPEC.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
