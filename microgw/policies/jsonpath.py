"""The JSONPath subset the vendor's masking and transformation criteria use, located for changing.

Supported: ``$`` then any of ``.name``, ``['name']`` / ``["name"]``, ``[n]`` (negative from the end),
``.*`` / ``[*]`` (every member or item) and ``..name`` / ``..*`` (recursive descent). Filters and
slices are refused when the configuration is read, so a criterion never silently matches nothing.

Why not a library: masking needs the *locations* (container and key) to replace or delete in
place, compiled once and walked without allocations per request; this subset is ~100 lines,
where jsonpath-ng would add a dependency (with its own parser generator) for features a masking
rule does not use.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

_TOKEN = re.compile(
    r"""\.\.(?P<desc>[A-Za-z_$][\w$-]*|\*)
      | \.(?P<name>[A-Za-z_$][\w$-]*)
      | \.(?P<star>\*)
      | \[\s*(?P<quoted>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*\]
      | \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*(?P<all>\*)\s*\]""",
    re.X,
)

Step = tuple[str, Any]  # ("key", name) | ("index", n) | ("all", None) | ("desc", name | None)


def compile_path(text: str) -> tuple[Step, ...]:
    """``$.a[0].b`` -> steps; ValueError naming what is not supported."""
    path = text.strip()
    if not path.startswith("$"):
        raise ValueError(f"JSONPath {text!r} must start with $")
    steps: list[Step] = []
    position = 1
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            raise ValueError(f"JSONPath {text!r}: unsupported syntax at {path[position:position + 12]!r} (supported: .name, ['name'], [n], [*], .*, ..name)")
        if match["desc"] is not None:
            steps.append(("desc", None if match["desc"] == "*" else match["desc"]))
        elif match["name"] is not None:
            steps.append(("key", match["name"]))
        elif match["star"] is not None or match["all"] is not None:
            steps.append(("all", None))
        elif match["quoted"] is not None:
            quoted = match["quoted"]
            steps.append(("key", re.sub(r"\\(.)", r"\1", quoted[1:-1])))
        else:
            steps.append(("index", int(match["index"])))
        position = match.end()
    if not steps:
        raise ValueError(f"JSONPath {text!r} selects the whole document; name a member")
    return tuple(steps)


def _children(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, dict):
        yield from ((value, key) for key in value)
    elif isinstance(value, list):
        yield from ((value, index) for index in range(len(value)))


def _containers(node: Any, out: list, seen: set[int] | None) -> None:
    """``node`` and every object and array below it onto ``out``, each before its descendants and
    arrays in order (RFC 9535's descendant order); ``seen`` (ids) skips those already there.
    Iterative, and without a tuple per member: the depth is the sender's, and this is the hot loop
    of ``..name`` criteria."""
    stack = [node]
    pop, push, add = stack.pop, stack.extend, out.append
    while stack:
        current = pop()
        if seen is not None:
            if id(current) in seen:
                continue
            seen.add(id(current))
        add(current)
        kids = [v for v in (current.values() if type(current) is dict else current) if type(v) is dict or type(v) is list]
        if kids:
            kids.reverse()
            push(kids)


def locate(document: Any, steps: tuple[Step, ...]) -> list[tuple[Any, Any]]:
    """Every (container, key) the path selects, each once; members of one object in its order,
    array items in array order, a node before its descendants.

    Intermediate steps carry the selected values only; the last step gives the locations. Only a
    descent after an earlier descent can meet a node twice (overlapping subtrees), so only then are
    nodes told apart by identity.
    """
    nodes: list[Any] = [document]
    last = len(steps) - 1
    descended = False
    for position, (kind, arg) in enumerate(steps):
        final = position == last
        if kind == "key":
            nodes = [n for n in nodes if type(n) is dict and arg in n]
            if final:
                return [(n, arg) for n in nodes]
            nodes = [n[arg] for n in nodes]
        elif kind == "index":
            lists = [n for n in nodes if type(n) is list and -len(n) <= arg < len(n)]
            if final:
                return [(n, arg % len(n)) for n in lists]
            nodes = [n[arg] for n in lists]
        else:
            if kind == "all":
                containers = [n for n in nodes if type(n) is dict or type(n) is list]
            else:  # desc: every container at or below each node
                containers = []
                seen: set[int] | None = set() if descended else None
                for n in nodes:
                    if type(n) is dict or type(n) is list:
                        _containers(n, containers, seen)
                descended = True
            if kind == "desc" and arg is not None:
                holders = [c for c in containers if type(c) is dict and arg in c]
                if final:
                    return [(c, arg) for c in holders]
                nodes = [c[arg] for c in holders]
            elif final:
                return [pair for c in containers for pair in _children(c)]
            else:
                nodes = [v for c in containers for v in (c.values() if type(c) is dict else c)]
    return [({"$": document}, "$")]  # no steps: compile_path never gives that


def replace_all(document: Any, steps: tuple[Step, ...], value: Any) -> int:
    """Set every selected member or item to ``value``; how many."""
    found = locate(document, steps)
    for container, key in found:
        container[key] = value
    return len(found)


def remove_all(document: Any, steps: tuple[Step, ...]) -> int:
    """Remove every selected member or item (list items from the back, so indexes hold)."""
    found = locate(document, steps)
    for container, key in sorted(found, key=lambda item: item[1] if isinstance(item[0], list) else 0, reverse=True):
        if isinstance(container, list):
            del container[key]
        else:
            container.pop(key, None)
    return len(found)


def set_path(document: Any, steps: tuple[Step, ...], value: Any) -> bool:
    """Set the member a plain path (keys and indexes only) names, creating objects on the way."""
    if any(kind not in ("key", "index") for kind, _ in steps):
        return replace_all(document, steps, value) > 0
    node = document
    for (kind, arg), (next_kind, _) in zip(steps, [*steps[1:], ("end", None)]):
        last = next_kind == "end"
        if kind == "key":
            if not isinstance(node, dict):
                return False
            if last:
                node[arg] = value
                return True
            if not isinstance(node.get(arg), (dict, list)):
                node[arg] = [] if next_kind == "index" else {}
            node = node[arg]
        else:
            if not isinstance(node, list) or not -len(node) <= arg < len(node):
                if isinstance(node, list) and last and arg == len(node):
                    node.append(value)
                    return True
                return False
            if last:
                node[arg] = value
                return True
            node = node[arg]
    return False
