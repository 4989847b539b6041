"""The layering check: ``python -m tests.support.layers`` prints rotator's import graph.

It walks every module under ``rotator/`` (a small AST walk: every ``import``
counts, also one inside a function or under ``if TYPE_CHECKING:``), maps
each module to its part and each part to its layer (:data:`LAYERS`, top to
bottom), prints the graph between the layers and between the parts, and
exits 1 on an upward import (a part importing from a layer above its own)
or on an import cycle between parts; :data:`APART` parts may be imported
only by the modules named there. Adjust the tables, not the code, when the
agreed layering changes.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LAYERS: dict[str, tuple[str, ...]] = {
    "cli": ("rotator.cli", "rotator.__main__", "rotator.commands"),
    "engine": ("rotator.engine",),
    "services": ("rotator.services",),
    "domain": ("rotator.rotation", "rotator.audit", "rotator.alerting", "rotator.events"),
    "config": ("rotator.settings",),  # assembles every plugin's config model
    "adapters": (
        "rotator.store",
        "rotator.digitalocean",
        "rotator.sinks",
        "rotator.credentials",
        "rotator.alerts",
    ),
    "base": (
        "rotator.errors",
        "rotator.configtypes",
        "rotator.files",
        "rotator.httpguard",
        "rotator.crypto",
        "rotator.secret",
        "rotator.durations",
        "rotator.logs",
        "rotator.output",
        "rotator.httpguard",  # deadlines and body caps for every HTTP client
        "rotator",  # the package itself: its version only
    ),
}
"""Layer → the parts (module prefixes) in it, top layer first; a part may import its own
layer and any layer below."""

APART: dict[str, tuple[str, ...]] = {
    "rotator.sandbox": ("rotator.commands.demo", "rotator.commands.demo_kinds"),
}
"""Parts outside the layering → the only modules that may import them (they may import
the base layer and themselves)."""

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
ROOT = REPOSITORY_ROOT / "rotator"


@dataclass(frozen=True)
class Edge:
    """One import: who imports what, and where."""

    importer: str
    imported: str
    where: str


@dataclass
class Graph:
    """Rotator's imports, mapped to parts and layers."""

    layers: Mapping[str, Sequence[str]]
    apart: Mapping[str, Sequence[str]]
    edges: list[Edge] = field(default_factory=list)
    unplaced: set[str] = field(default_factory=set)

    def part(self, module: str) -> str | None:
        """The longest part prefix that *module* is, or lies inside."""
        parts = [p for names in self.layers.values() for p in names] + list(self.apart)
        matches = [p for p in parts if module == p or module.startswith(p + ".")]
        # "rotator" (the package) holds only the module itself, not everything below it.
        matches = [p for p in matches if p != "rotator" or module == "rotator"]
        return max(matches, key=len, default=None)

    def layer(self, part: str) -> str | None:
        for name, parts in self.layers.items():
            if part in parts:
                return name
        return None

    def rank(self, part: str) -> int:
        layer = self.layer(part)
        return list(self.layers).index(layer) if layer is not None else -1

    def part_edges(self) -> dict[tuple[str, str], list[Edge]]:
        grouped: dict[tuple[str, str], list[Edge]] = defaultdict(list)
        for edge in self.edges:
            source, target = self.part(edge.importer), self.part(edge.imported)
            if source is not None and target is not None and source != target:
                grouped[(source, target)].append(edge)
        return grouped

    def upward(self) -> list[str]:
        """Every import against the layering, as one line each."""
        problems = []
        for (source, target), edges in sorted(self.part_edges().items()):
            example = edges[0]
            if source in self.apart:
                if self.layer(target) != list(self.layers)[-1]:
                    problems.append(
                        f"{example.where}: {example.importer} ({source}, apart) imports "
                        f"{example.imported}; a part apart may import only the base layer"
                    )
                continue
            if target in self.apart:
                for edge in edges:
                    if edge.importer not in self.apart[target]:
                        problems.append(
                            f"{edge.where}: {edge.importer} imports {edge.imported} "
                            f"({target} is apart; only {', '.join(self.apart[target])} may)"
                        )
                continue
            if self.rank(target) < self.rank(source):
                for edge in edges:
                    problems.append(
                        f"{edge.where}: {edge.importer} ({self.layer(source)}) imports "
                        f"{edge.imported} ({self.layer(target)}, a layer above)"
                    )
        return problems

    def cycles(self) -> list[list[str]]:
        """Every set of parts that import each other round (strongly connected, > 1 part)."""
        graph: dict[str, set[str]] = defaultdict(set)
        for source, target in self.part_edges():
            graph[source].add(target)
        return [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]


def _strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm (recursive: the graph has a few dozen parts)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            found.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str, known: set[str]) -> Iterable[tuple[str, int]]:
    """Each rotator module *path* imports (anywhere in it), with the line."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in known else base), node.lineno


def build(
    root: Path = ROOT,
    layers: Mapping[str, Sequence[str]] = LAYERS,
    apart: Mapping[str, Sequence[str]] = APART,
) -> Graph:
    """The import graph of the package at *root*."""
    files = sorted(root.rglob("*.py"))
    known = {module_name(path, root) for path in files}
    graph = Graph(layers, apart)
    top = root.name
    for path in files:
        module = module_name(path, root)
        if graph.part(module) is None:
            graph.unplaced.add(module)
        for imported, line in imports_of(path, module, known):
            if imported == top or imported.startswith(top + "."):
                where = f"{path.relative_to(root.parent)}:{line}"
                graph.edges.append(Edge(module, imported, where))
    return graph


def render(graph: Graph) -> str:
    """The layer graph, then the part graph, as text."""
    lines = ["layers, top to bottom (a layer may import itself and any layer below):"]
    by_layer: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (source, target), edges in graph.part_edges().items():
        source_layer = graph.layer(source) or f"{source} (apart)"
        target_layer = graph.layer(target) or f"{target} (apart)"
        by_layer[source_layer][target_layer] += len(edges)
    names = [*graph.layers, *(f"{p} (apart)" for p in graph.apart)]
    width = max(len(name) for name in names)
    for name in names:
        targets = by_layer.get(name, {})
        shown = ", ".join(f"{target} ({targets[target]})" for target in names if target in targets)
        lines.append(f"  {name:<{width}} -> {shown or '-'}")
    lines.append("parts:")
    outgoing: dict[str, set[str]] = defaultdict(set)
    for source, target in graph.part_edges():
        outgoing[source].add(target)
    for source in sorted(outgoing, key=lambda p: (graph.rank(p), p)):
        targets = sorted(outgoing[source], key=lambda p: (graph.rank(p), p))
        short = ", ".join(t.removeprefix("rotator.") for t in targets)
        lines.append(f"  {source.removeprefix('rotator.')} -> {short}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(argv[0]) if argv else ROOT
    graph = build(root)
    print(render(graph))
    problems = graph.upward()
    problems += [f"{module}: in no layer (add it to LAYERS)" for module in sorted(graph.unplaced)]
    cycles = graph.cycles()
    problems += [f"import cycle between parts: {' <-> '.join(cycle)}" for cycle in cycles]
    if problems:
        print(f"\n{len(problems)} layering problem(s):")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print("\nno upward import, no cycle between parts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
