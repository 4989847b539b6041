"""Extract the scopes each operation of the official spec lists, into ``digitalocean-scopes.json``.

    python -m tests.spec.extract_scopes GIT_DIR COMMIT

``GIT_DIR`` is a clone of github.com/digitalocean/openapi (bare is fine).
For every path and method under ``specification/DigitalOcean-public.v2.yaml``
the operation file's ``security`` is read: the ``bearer_auth`` scopes, in
the order listed. The result is small enough to keep in the repository, so
the scope catalogue's drift test runs without the 10+ MB spec.
"""

from __future__ import annotations

import json
import posixpath
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent / "digitalocean-scopes.json"
ROOT = "DigitalOcean-public.v2.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head")


def _load(git_dir: str, commit: str, path: str) -> Any:
    text = subprocess.run(
        ["git", "-C", git_dir, "show", f"{commit}:specification/{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return yaml.safe_load(text)


def extract(git_dir: str, commit: str) -> dict[str, Any]:
    root = _load(git_dir, commit, ROOT)
    operations: dict[str, dict[str, Any]] = {}
    for path, item in root["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            ref = item[method]["$ref"]
            operation = _load(git_dir, commit, posixpath.normpath(ref))
            scopes: list[str] = []
            for requirement in operation.get("security") or []:
                scopes += requirement.get("bearer_auth") or []
            operations[f"{method.upper()} {path}"] = {
                "operationId": operation.get("operationId"),
                "scopes": scopes,
                "deprecated": bool(operation.get("deprecated", False)),
            }
    return {
        "source": {
            "repository": "https://github.com/digitalocean/openapi",
            "commit": commit,
            "root": f"specification/{ROOT}",
        },
        "operations": operations,
    }


def main(argv: list[str]) -> int:
    git_dir, commit = argv
    document = extract(git_dir, commit)
    OUT.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
