"""Rooms depend one way: no import cycle between the rooms of microgw (issue 9).

A room is the first package or module under ``microgw/`` (``microgw/keys/``, ``microgw/errors.py``).
Every import counts, also those inside functions: a late import hides a cycle from Python's import
machinery, not from the design. Every room is checked: the whole graph must stay free of cycles.

Check it::

    PYTHONPATH=$PWD python3 -m pytest -q -p no:cacheprovider tests/test_architecture.py

Print every room edge (with the files that make it) and every cycle, for all rooms::

    python3 tests/test_architecture.py
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "microgw"


# Edges that would undo the layering even without closing a cycle today.
FORBIDDEN = {
    "jose": {"config", "keys", "tokens", "applications", "users", "sync", "policies", "server", "runtime"},
    "config": {"keys", "tokens", "sync", "policies", "server", "runtime", "endpoints"},
    "keys": {"tokens"},
    # a policy is built against services and the request context, never the process around it
    "policies": {"runtime", "server", "startup", "endpoints", "sync", "proxy"},
    "context": {"policies", "runtime", "server"},
}

Graph = Mapping[str, Mapping[str, frozenset[str]]]  # room -> room it imports -> files that do


def _module_parts(path: Path, package: Path) -> tuple[list[str], bool]:
    parts = ["microgw", *path.relative_to(package).with_suffix("").parts]
    if parts[-1] == "__init__":
        return parts[:-1], True
    return parts, False


def _imported(node: ast.AST, parts: list[str], is_package: bool) -> Iterable[str]:
    """Dotted names an import statement may load (``from a import b`` may load ``a.b``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = parts if is_package else parts[:-1]
            base = base[: len(base) - (node.level - 1)]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        yield module
        yield from (f"{module}.{alias.name}" for alias in node.names)


def room_of(dotted: str, rooms: Iterable[str]) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "microgw" or len(parts) < 2 or parts[1] not in rooms:
        return None
    return parts[1]


def room_graph(package: Path = PACKAGE) -> Graph:
    """Which room imports which, from the source (nothing is imported to find out)."""
    rooms = {p.stem for p in package.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in package.iterdir() if (p / "__init__.py").is_file()
    }
    edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(package.rglob("*.py")):
        parts, is_package = _module_parts(path, package)
        source = room_of(".".join(parts), rooms)
        if source is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for dotted in _imported(node, parts, is_package):
                target = room_of(dotted, rooms)
                if target is not None and target != source:
                    edges[source][target].add(str(path.relative_to(package.parent)))
    return {s: {t: frozenset(files) for t, files in targets.items()} for s, targets in edges.items()}


def cycles(graph: Graph, rooms: Iterable[str] | None = None) -> list[list[str]]:
    """The strongly connected groups of more than one room, among ``rooms`` (default: all)."""
    keep = set(rooms) if rooms is not None else set(graph) | {t for ts in graph.values() for t in ts}
    successors = {r: sorted(t for t in graph.get(r, {}) if t in keep) for r in keep}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(room: str) -> None:  # Tarjan; the graph has a few dozen rooms, recursion is fine
        index[room] = low[room] = len(index)
        stack.append(room)
        on_stack.add(room)
        for nxt in successors[room]:
            if nxt not in index:
                visit(nxt)
                low[room] = min(low[room], low[nxt])
            elif nxt in on_stack:
                low[room] = min(low[room], index[nxt])
        if low[room] == index[room]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == room:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for room in sorted(keep):
        if room not in index:
            visit(room)
    return sorted(found)


def describe(graph: Graph, group: Iterable[str]) -> str:
    members = set(group)
    return "; ".join(
        f"{s} -> {t} ({', '.join(sorted(graph[s][t]))})" for s in sorted(members) for t in sorted(graph.get(s, {})) if t in members
    )


def test_rooms_have_no_import_cycle():
    graph = room_graph()
    assert {"config", "keys", "tokens", "policies", "server", "endpoints", "sync"} <= set(graph), "the room finder lost its way"
    found = cycles(graph)
    assert not found, "import cycles between rooms: " + " | ".join(describe(graph, group) for group in found)


def test_low_rooms_do_not_import_upward():
    graph = room_graph()
    wrong = [(s, t, sorted(graph[s][t])) for s, targets in FORBIDDEN.items() for t in sorted(targets) if t in graph.get(s, {})]
    assert not wrong, f"imports against the layering: {wrong}"


def test_cycle_finder_sees_function_level_and_relative_imports(tmp_path):
    package = tmp_path / "microgw"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("")
    (package / "low" / "a.py").write_text("def f():\n    from microgw.high import g\n")
    (package / "high.py").write_text("from .low import a\n")
    (package / "side.py").write_text("import microgw.high\n")
    graph = room_graph(package)
    assert graph == {
        "low": {"high": frozenset({"microgw/low/a.py"})},
        "high": {"low": frozenset({"microgw/high.py"})},
        "side": {"high": frozenset({"microgw/side.py"})},
    }
    assert cycles(graph) == [["high", "low"]]
    assert cycles(graph, {"low", "side"}) == []


if __name__ == "__main__":
    graph = room_graph()
    for source in sorted(graph):
        for target in sorted(graph[source]):
            print(f"{source} -> {target}   ({', '.join(sorted(graph[source][target]))})")
    for group in cycles(graph):
        print("cycle:", " ".join(group))
