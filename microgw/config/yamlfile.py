"""Safe YAML loading that can tell the line of any setting and understands the vendor's type tags.

The vendor writes security settings as tagged items (``- !<authServerAlias> {...}``). A tag names the
kind of object exactly like its ``type`` field, so a known tag fills in ``type`` and a conflicting
``type`` or an unknown tag is a configuration error, never silently dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

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
    """The line of every mapping key and sequence item of a file's documents, found in its text.

    Recording lines while loading cost a dict per mapping for the process lifetime (more memory than
    the documents themselves: ~8 MB for 10,000 applications), yet a line is needed only for a
    message about a problem. So only the text is kept; the first question composes libyaml's node
    tree (which has every line) and follows the path through it, and :meth:`release` lets that tree
    go once the messages are written. Documents are known by identity (the objects the loader
    returned), as a message names the document it checked.
    """

    def __init__(self, text: str, loader_cls, documents: list[tuple[int, Any]]) -> None:
        self._text = text
        self._loader_cls = loader_cls
        self._documents = [doc for _, doc in documents]  # alive as long as their ids are keys below
        self._positions = {id(doc): position for position, doc in documents}  # id -> position in the file
        self._roots: list | None = None
        self._loader = None

    def release(self) -> None:
        """Drop the node tree the last questions composed (it is composed again when asked)."""
        self._roots = self._loader = None

    def line_of(self, root: Any, parts) -> int | None:
        """Line of the deepest node of ``parts`` that the text of ``root`` holds (1-based)."""
        position = self._positions.get(id(root))
        if position is None:
            return None
        if self._roots is None:
            loader = self._loader_cls(self._text)
            try:
                roots = []
                while loader.check_node():
                    roots.append(loader.get_node())
            finally:
                loader.dispose()
            self._roots, self._loader = roots, loader
        if position >= len(self._roots):
            return None
        node, line = self._roots[position], None
        for part in parts:
            found = _child(node, part, self._loader)
            if found is None:
                break
            line, node = found
        return line


_MERGE = "tag:yaml.org,2002:merge"


def _child(node, part, loader) -> tuple[int, Any] | None:
    """(line, node) of ``part`` inside ``node``: a key of a mapping (its own keys first, then those
    its merge keys bring, the first listed winning, as the constructor decides) or an item's index."""
    if isinstance(node, yaml.SequenceNode):
        if isinstance(part, int) and not isinstance(part, bool) and 0 <= part < len(node.value):
            item = node.value[part]
            return item.start_mark.line + 1, item
        return None
    if not isinstance(node, yaml.MappingNode):
        return None
    merged = []
    found = None
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        if key_node.tag == _MERGE:
            merged.extend(value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node])
            continue
        key = key_node.value if key_node.tag == _STR else loader.construct_object(key_node)
        if key == part:
            found = (key_node.start_mark.line + 1, value_node)  # the last one written wins, as in a dict
    if found is None:
        for source in merged:
            found = _child(source, part, loader)
            if found is not None:
                break
    return found


def _make_loader(source: str):
    """The loader for everything the event path (:func:`_from_events`) leaves: tags, merge keys,
    complex keys, anchors written twice. Checks keys written twice and keeps versions as text alike."""

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
                    # A version is text: `version: 1.10` must not become the float 1.1.
                    if key in TEXT_KEYS and isinstance(value_node, yaml.ScalarNode) and value_node.tag in _NUMBER_TAGS:
                        mapping[key] = value_node.value
            return mapping

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
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "binary", "timestamp", "str")
)
_NO = object()


class _Unusual(Exception):
    """Something the event path leaves to the full loader (tags, merge keys, complex keys, ...)."""


def _from_events(text: str, loader_cls) -> tuple[list[tuple[int, Any]], bool]:
    """(position, document) of each document of ``text``, and whether an alias was used, built straight from libyaml's parser
    events when it holds only plain maps, lists and scalars (a configuration almost always); raises
    _Unusual for anything else (the caller then loads the text with the full loader).

    Composing libyaml's node tree first (a Python object with two marks per node) took 0.7 s and a
    peak of ~36 MB more for 10,000 applications, and that peak stayed in the process as fragmented
    heap; the events come one at a time. The documents are those the full loader makes. Every plain
    scalar is resolved once per load and equal strings are one object (keys and repeated values:
    less memory for the documents' lifetime).
    """
    loader = loader_cls(text)
    get, resolve, constructors = loader.get_event, loader.resolve, loader.yaml_constructors
    plain: dict[str, Any] = {}  # a plain scalar's text -> its value
    strings: dict[str, str] = {}  # one object per string
    anchors: dict[str, Any] = {}
    aliased = False

    def scalar(event) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                value = event.value  # quoted (or '!'): text
                return strings.setdefault(value, value)
            value = plain.get(event.value, _NO)
            if value is _NO:
                tag = resolve(yaml.ScalarNode, event.value, event.implicit)
                value = _construct(tag, event)
                if value.__class__ is str:
                    value = strings.setdefault(value, value)
                plain[event.value] = value
            return value
        if tag == _STR:
            return strings.setdefault(event.value, event.value)
        return _construct(tag, event)

    def _construct(tag: str, event) -> Any:
        if tag == _STR:
            return event.value
        if tag not in _SCALAR_TAGS:
            raise _Unusual
        return constructors[tag](loader, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style))

    def anchored(event, value) -> None:
        if event.anchor is not None:
            if event.anchor in anchors:
                raise _Unusual  # the full loader names both places
            anchors[event.anchor] = value

    def build(event) -> Any:
        cls = event.__class__
        if cls is ScalarEvent:
            value = scalar(event)
            if event.anchor is not None:
                anchored(event, value)
            return value
        if cls is MappingStartEvent:
            if event.tag not in (None, "!", _MAP):
                raise _Unusual
            mapping: dict = {}
            if event.anchor is not None:
                anchored(event, mapping)
            while True:
                key_event = get()
                if key_event.__class__ is not ScalarEvent:
                    if key_event.__class__ is MappingEndEvent:
                        return mapping
                    raise _Unusual  # a complex key or an alias as key
                key = scalar(key_event)
                if key_event.anchor is not None:
                    anchored(key_event, key)
                if key in mapping:
                    raise _Unusual  # written twice: the full loader names both lines
                value_event = get()
                if key in TEXT_KEYS and value_event.__class__ is ScalarEvent and (
                    value_event.tag if value_event.tag not in (None, "!") else resolve(yaml.ScalarNode, value_event.value, value_event.implicit)
                ) in _NUMBER_TAGS:
                    mapping[key] = value_event.value  # a version is text: `version: 1.10` must not become 1.1
                    if value_event.anchor is not None:
                        anchored(value_event, value_event.value)
                else:
                    mapping[key] = build(value_event)
        if cls is SequenceStartEvent:
            if event.tag not in (None, "!", _SEQ):
                raise _Unusual
            seq: list = []
            if event.anchor is not None:
                anchored(event, seq)
            append = seq.append
            while True:
                item = get()
                if item.__class__ is SequenceEndEvent:
                    return seq
                append(build(item))
        if cls is AliasEvent:
            nonlocal aliased
            aliased = True
            found = anchors.get(event.anchor, _NO)
            if found is _NO:
                raise _Unusual  # an undefined alias: the full loader says where
            return found
        raise _Unusual

    documents = []
    try:
        get()  # the stream's start
        position = 0
        while True:
            event = get()
            if event.__class__ is StreamEndEvent:
                return documents, aliased
            documents.append((position, build(get())))  # after the document's start
            get()  # its end
            anchors.clear()
            position += 1
    except RecursionError:
        raise _Unusual from None
    finally:
        loader.dispose()


def _from_loader(text: str, loader_cls) -> list[tuple[int, Any]]:
    loader = loader_cls(text)
    try:
        documents = []
        while loader.check_data():
            documents.append((len(documents), loader.get_data()))
        return documents
    finally:
        loader.dispose()


def load_yaml_documents(path: Path) -> tuple[list[Any], LineMap]:
    """Load every document of a YAML file; raise ConfigError naming the file and line on bad YAML."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(source, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(source, "", f"cannot read file: {exc.__class__.__name__}")]) from None
    loader_cls = _make_loader(source)
    # Verbatim tags other than the known ones (e.g. !<foo>) resolve to the bare name "foo".
    loader_cls.add_multi_constructor("", _unknown_verbatim(source))
    try:
        try:
            found, aliased = _from_events(text, loader_cls)
        except _Unusual:
            found, aliased = _from_loader(text, loader_cls), True
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError([ConfigProblem(source, "", f"invalid YAML: {exc.problem}", line)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(source, "", f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise ConfigError([ConfigProblem(source, "", "invalid YAML: the document nests too deeply")]) from None
    docs = [doc for _, doc in found if doc is not None]
    lines = LineMap(text, loader_cls, [(position, doc) for position, doc in found if doc is not None])
    for doc in docs if aliased else ():  # without aliases a document is as big as its text
        try:
            check_expansion(doc)
        except ValueError as exc:
            raise ConfigError([ConfigProblem(source, "", f"invalid YAML: {exc}")]) from None
    return docs, lines
