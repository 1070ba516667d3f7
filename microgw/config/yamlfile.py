"""Safe YAML loading that remembers line numbers and understands the vendor's type tags.

The vendor writes security settings as tagged items (``- !<authServerAlias> {...}``). A tag names the
kind of object exactly like its ``type`` field, so a known tag fills in ``type`` and a conflicting
``type`` or an unknown tag is a configuration error, never silently dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from microgw.config.errors import ConfigError, ConfigProblem

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C parser when present

# Tags the vendor uses, mapped to the ``type`` value they stand for.
KNOWN_TAGS = {
    "authServerAlias": "authServerAlias",
    "simple": "simple",
    "endpoint": "endpoint",
    "clientMetadataMapping": "clientMetadataMapping",  # security_settings.providers (no effect here)
}


# Keys whose plain scalar values stay the text the user wrote.
TEXT_KEYS = frozenset({"version", "apiVersion"})
_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:float", "tag:yaml.org,2002:int"})


class LineMap:
    """Remembers the line of every mapping key and sequence item, by the identity of its container."""

    def __init__(self) -> None:
        self._lines: dict[int, dict[Any, int]] = {}
        self._keep: list[Any] = []  # containers stay alive so ids stay unique

    def move(self, old: Any, new: Any) -> None:
        if id(old) in self._lines:
            self._lines[id(new)] = self._lines.pop(id(old))
            self._keep.append(new)

    def record(self, container: Any, key: Any, line: int) -> None:
        self._lines.setdefault(id(container), {})[key] = line
        self._keep.append(container)

    def line_of(self, root: Any, parts) -> int | None:
        """Line of the deepest node of ``parts`` that still exists in ``root`` (1-based)."""
        line = None
        node = root
        for part in parts:
            known = self._lines.get(id(node))
            if not known or part not in known:
                break
            line = known[part]
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
        return line


def _make_loader(source: str, lines: LineMap):
    class Loader(_Base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node, deep=False):
            # A key written twice would silently lose the first value (e.g. a second `apis:`)
            seen: dict[tuple, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                line = key_node.start_mark.line + 1
                first = seen.get((key_node.tag, key_node.value))
                if first is not None:
                    raise ConfigError([ConfigProblem(source, "", f"key {key_node.value!r} is written twice in one mapping (first on line {first})", line)])
                seen[(key_node.tag, key_node.value)] = line
            mapping = super().construct_mapping(node, deep=deep)
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = self.construct_object(key_node)
                    lines.record(mapping, key, key_node.start_mark.line + 1)
                    # A version is text: `version: 1.10` must not become the float 1.1.
                    if key in TEXT_KEYS and isinstance(value_node, yaml.ScalarNode) and value_node.tag in _NUMBER_TAGS:
                        mapping[key] = value_node.value
            return mapping

        def construct_sequence(self, node, deep=False):
            seq = super().construct_sequence(node, deep=deep)
            for index, item in enumerate(node.value):
                lines.record(seq, index, item.start_mark.line + 1)
            return seq

        # SafeConstructor builds maps and lists in two steps (yield empty, then fill from a temporary);
        # move the temporary's recorded lines onto the object that ends up in the document.
        def construct_yaml_map(self, node):
            data: dict = {}
            yield data
            value = self.construct_mapping(node)
            data.update(value)
            lines.move(value, data)

        def construct_yaml_seq(self, node):
            data: list = []
            yield data
            value = self.construct_sequence(node)
            data.extend(value)
            lines.move(value, data)

    Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_yaml_map)
    Loader.add_constructor("tag:yaml.org,2002:seq", Loader.construct_yaml_seq)

    def tagged(loader, tag_suffix, node):
        tag = node.tag.lstrip("!")
        line = node.start_mark.line + 1
        kind = KNOWN_TAGS.get(tag)
        if kind is None:
            raise ConfigError([ConfigProblem(source, "", f"unknown YAML tag '!<{tag}>' (known: {', '.join(sorted(KNOWN_TAGS))})", line)])
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError([ConfigProblem(source, "", f"tag '!<{tag}>' must mark a mapping", line)])
        mapping = loader.construct_mapping(node, deep=True)
        declared = mapping.get("type")
        if declared is not None and declared != kind:
            raise ConfigError([ConfigProblem(source, "", f"tag '!<{tag}>' says type '{kind}' but the item says type '{declared}'", line)])
        mapping["type"] = kind
        return mapping

    Loader.add_multi_constructor("!", tagged)
    for tag in KNOWN_TAGS:
        Loader.add_constructor(tag, lambda loader, node: tagged(loader, "", node))
    return Loader


def _unknown_verbatim(source: str):
    def construct(loader, tag_suffix, node):
        raise ConfigError([ConfigProblem(source, "", f"unknown YAML tag '!<{node.tag}>'" if ":" not in node.tag else f"unknown YAML tag '{node.tag}'", node.start_mark.line + 1)])

    return construct


EXPANSION_FLOOR = 100_000  # expanded nodes always allowed
EXPANSION_FACTOR = 10  # beyond the floor, aliases may multiply the written nodes at most this much


def check_expansion(document: Any) -> None:
    """Refuse a document whose aliases expand it enormously (a "billion laughs": ten aliases of ten
    aliases ... load in microseconds as shared objects, then every later walk — validation, merging,
    copying — visits each use) or refer to themselves. Raises ValueError saying which."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in active:
            raise ValueError("an alias refers to a node that contains it (a recursive structure)")
        active.add(key)
        children = node.values() if isinstance(node, dict) else node
        total = 1 + sum(size(child) for child in children)
        active.discard(key)
        sizes[key] = total
        return total

    try:
        expanded = size(document)
    except RecursionError:
        raise ValueError("the document nests too deeply") from None
    if expanded > EXPANSION_FLOOR and expanded > EXPANSION_FACTOR * (len(sizes) + 1):
        raise ValueError(f"aliases expand the document to {expanded} nodes from {len(sizes)} written (an alias bomb?)")


_MAP, _SEQ, _STR = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str"


class _Unusual(Exception):
    """A node the direct conversion leaves to the full constructor (tags, merge keys, complex keys)."""


def _load_all(text: str, loader_cls, source: str, lines: LineMap):
    """Each document of ``text``: converted straight from libyaml's node tree when it holds only plain
    maps, lists and scalars (a configuration almost always), else by the constructor classes above.

    The constructor path builds every map and list twice (an empty one, then a temporary copied in)
    and goes through several Python calls per node; for 10,000 applications that was most of a
    second of every start. The result, line map and errors are the same either way.
    """
    loader = loader_cls(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            try:
                yield _direct(node, loader, source, LineMap.__new__(LineMap), lines)
            except _Unusual:
                yield loader.construct_document(node)
    finally:
        loader.dispose()


def _direct(root, loader, source: str, scratch: LineMap, lines: LineMap):
    """``root`` converted without the constructor; raises _Unusual for anything but plain nodes.

    Lines are recorded in a scratch map first and merged into ``lines`` only when the whole document
    converted, so a fallback leaves no stale entries behind.
    """
    scratch._lines, scratch._keep = {}, []
    made: dict[int, Any] = {}  # node id -> object: an alias (*x) yields the object of its anchor
    scalars = loader.yaml_constructors

    def convert(node):
        known = made.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            build = scalars.get(node.tag)
            if build is None or node.tag in (_MAP, _SEQ):
                raise _Unusual
            return build(loader, node)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise _Unusual
            seq: list = []
            made[id(node)] = seq
            for index, item in enumerate(node.value):
                seq.append(convert(item))
                scratch.record(seq, index, item.start_mark.line + 1)
            return seq
        if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
            raise _Unusual
        mapping: dict = {}
        made[id(node)] = mapping
        seen: dict[tuple, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                raise _Unusual
            line = key_node.start_mark.line + 1
            first = seen.get((key_node.tag, key_node.value))
            if first is not None:
                raise ConfigError([ConfigProblem(source, "", f"key {key_node.value!r} is written twice in one mapping (first on line {first})", line)])
            seen[(key_node.tag, key_node.value)] = line
            key = convert(key_node)
            try:
                hash(key)
            except TypeError:
                raise _Unusual from None
            if key in TEXT_KEYS and isinstance(value_node, yaml.ScalarNode) and value_node.tag in _NUMBER_TAGS:
                mapping[key] = value_node.value  # a version is text: `version: 1.10` must not become 1.1
            else:
                mapping[key] = convert(value_node)
            scratch.record(mapping, key, line)
        return mapping

    document = convert(root)
    for ident, known in scratch._lines.items():
        lines._lines.setdefault(ident, {}).update(known)
    lines._keep.extend(scratch._keep)
    return document


def load_yaml_documents(path: Path) -> tuple[list[Any], LineMap]:
    """Load every document of a YAML file; raise ConfigError naming the file and line on bad YAML."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(source, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(source, "", f"cannot read file: {exc.__class__.__name__}")]) from None
    lines = LineMap()
    loader_cls = _make_loader(source, lines)
    # Verbatim tags other than the known ones (e.g. !<foo>) resolve to the bare name "foo".
    loader_cls.add_multi_constructor("", _unknown_verbatim(source))
    try:
        docs = [d for d in _load_all(text, loader_cls, source, lines) if d is not None]
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError([ConfigProblem(source, "", f"invalid YAML: {exc.problem}", line)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(source, "", f"invalid YAML: {exc}")]) from None
    for doc in docs:
        try:
            check_expansion(doc)
        except ValueError as exc:
            raise ConfigError([ConfigProblem(source, "", f"invalid YAML: {exc}")]) from None
    return docs, lines
