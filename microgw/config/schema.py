"""JSON Schema validation of configuration documents, with every error and the paths of file fields.

Schemas live in ``schemas/`` (one per kind of file) and reference each other by ``$id``. A property
marked ``"x-path": true`` holds a file or folder name; the loader resolves it against the folder of
the file that wrote it, so configs can be moved together with their keys.

Checking is done in two steps: a compiled validator (jsonschema-rs) answers "valid or not" first,
in milliseconds for 10,000 applications; only a document it finds invalid (or cannot read, or when
it is not installed) is walked by the ``jsonschema`` validator, whose errors make the messages. The
pure-Python walk alone took seconds per pass over 10,000 applications, and every start made two.
Both read the same schema files; ``tests/config/test_schema_fast.py`` keeps them agreeing.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from microgw.config.secrets import secret_key as _secret_key

if TYPE_CHECKING:  # the jsonschema package loads only to word the messages of a refused document
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

ID_PREFIX = "https://schemas.microgw.dev/"


def schema_dir() -> Path:
    """Installed wheels carry the schemas inside the package; a source tree has them at the top."""
    packaged = Path(__file__).resolve().parent.parent / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


@lru_cache(maxsize=1)
def _schemas() -> dict[str, dict]:
    """Every schema file by its ``$id``."""
    found = {}
    for file in sorted(schema_dir().glob("*.schema.json")):
        contents = json.loads(file.read_text(encoding="utf-8"))
        found[contents["$id"]] = contents
    return found


@lru_cache(maxsize=1)
def _registry() -> Registry:
    from referencing import Registry, Resource

    return Registry().with_resources((uri, Resource.from_contents(contents)) for uri, contents in _schemas().items())


def schema(kind: str) -> dict:
    return _schemas()[f"{ID_PREFIX}{kind}.schema.json"]


@lru_cache(maxsize=None)
def _validator(kind: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(kind), registry=_registry())


@lru_cache(maxsize=None)
def _fast_validator(kind: str) -> Any:
    """The compiled validator of ``kind``, or None without jsonschema-rs (the slow walk then decides)."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    resources = list(_schemas().items())
    try:
        return jsonschema_rs.Draft202012Validator(schema(kind), registry=jsonschema_rs.Registry(resources), validate_formats=False)
    except Exception:  # an older or newer jsonschema-rs that reads the schemas otherwise: the walk alone  # noqa: BLE001
        return None


def _surely_valid(document: Any, kind: str) -> bool:
    """True when the compiled validator accepts ``document``; False means "ask the slow walk"."""
    fast = _fast_validator(kind)
    if fast is None:
        return False
    try:
        return bool(fast.is_valid(document))
    except Exception:  # a value it cannot read (a YAML date, ...): the walk decides  # noqa: BLE001
        return False




_TYPE_NAMES = {
    "integer": "a whole number", "number": "a number", "string": "a text", "boolean": "true or false",
    "array": "a list", "object": "a mapping", "null": "null",
}


def _kind(value: Any) -> str:
    """The YAML reader's word for what was written (for 'expected X, got Y')."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "the text"
    return "a list" if isinstance(value, list) else "a mapping"


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _kind(value)
    if isinstance(value, str):
        return f"the text {value!r}"
    return _kind(value) if value is None or isinstance(value, bool) else repr(value)


def _expected_types(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(name, name) for name in names)


def _branch_fits(errors: list[ValidationError]) -> bool:
    """A oneOf/anyOf branch fits when the value has the branch's type (its errors are about more)."""
    return not any(e.validator == "type" and not e.relative_path for e in errors)


def _suggest(word: str, known: list[str]) -> str:
    lowered = {k.lower(): k for k in known}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[match[0]]!r}?" if match else ""


def _unknown_keys(error: ValidationError, prefix: list | tuple) -> list[tuple[list, str]]:
    """One problem per unknown key, at the key's own path (its own line), with a likely intended name."""
    sub = error.schema if isinstance(error.schema, dict) else {}
    known = list(sub.get("properties", {}))
    patterns = [re.compile(p) for p in sub.get("patternProperties", {})]
    path = [*prefix, *error.absolute_path]
    found = []
    for key in error.instance if isinstance(error.instance, dict) else ():
        if key in known or any(p.search(str(key)) for p in patterns):
            continue
        hint = _suggest(str(key), known)
        if not hint and 0 < len(known) <= 16:
            hint = f" (known keys: {', '.join(sorted(known))})"
        found.append(([*path, key], f"unknown key {key!r}{hint}"))
    return found or [(path, error.message)]


def _describe(error: ValidationError, prefix: list | tuple = ()) -> list[tuple[list, str]]:
    """Paths and plain messages: choices resolved to the branch the value was meant for, types and
    patterns said in words (never a raw regex), unknown keys at their own line; secrets stay hidden."""
    if error.validator in ("oneOf", "anyOf"):
        if isinstance(error.schema, dict) and "x-message" in error.schema:
            return [([*prefix, *error.absolute_path], error.schema["x-message"])]
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context or ():
            branches.setdefault(sub.schema_path[0] if sub.schema_path else -1, []).append(sub)
        fitting = [errors for errors in branches.values() if _branch_fits(errors)]
        from jsonschema.exceptions import best_match

        if len(fitting) == 1:
            return _describe(best_match(fitting[0]), prefix)
        if not fitting:
            alternatives = error.validator_value if isinstance(error.validator_value, list) else []
            types = [t for alt in alternatives if isinstance(alt, dict) for t in ([alt["type"]] if isinstance(alt.get("type"), str) else alt.get("type", []))]
            if types:
                secret = _secret_path([*prefix, *error.absolute_path]) and not isinstance(error.instance, (dict, list, bool)) and error.instance is not None
                got = "the value is not shown: it is a secret" if secret else f"got {_shown(error.instance)}"
                return [([*prefix, *error.absolute_path], f"expected {_expected_types(list(dict.fromkeys(types)))}, {got}")]
        if error.context:
            return _describe(best_match(error.context), prefix)
    path = [*prefix, *error.absolute_path]
    if error.validator == "additionalProperties":
        return _unknown_keys(error, prefix)
    if _secret_path(path):
        if error.validator == "type":
            got = "got " + _kind(error.instance) if isinstance(error.instance, (dict, list, bool)) or error.instance is None else "the value is not shown: it is a secret"
            return [(path, f"expected {_expected_types(error.validator_value)}, {got}")]
        return [(path, f"invalid value (not shown, it is a secret): expected {error.validator} {error.validator_value!r}")]
    if error.validator == "type":
        return [(path, f"expected {_expected_types(error.validator_value)}, got {_shown(error.instance)}")]
    if error.validator == "pattern":
        sub = error.schema if isinstance(error.schema, dict) else {}
        if "x-expected" in sub:
            return [(path, f"{error.instance!r} is not {sub['x-expected']}")]
        described = f" ({sub['description']})" if sub.get("description") else ""
        return [(path, f"{error.instance!r} does not have the expected form{described}")]  # never the raw regex
    return [(path, error.message)]


def _secret_path(path: list) -> bool:
    """The value at ``path`` is a secret, or an item of a list of them (``api_keys[0]``): its value is
    never printed, even when it is a number (``api_keys: [123456]``)."""
    if "identifiers" in path and "value" in path[-2:]:  # the vendor's identifiers: API keys among them
        return True
    return any(_secret_key(part) for part in path[-2:] if isinstance(part, str))


# What a file may leave to the other files: a mapping it only partly overrides misses required keys,
# and a choice (oneOf/anyOf) can only be judged on the merged value.
_NEEDS_THE_WHOLE = frozenset({"required", "oneOf", "anyOf"})


def _errors(validator, document: Any, partial: bool) -> Iterator[ValidationError]:
    for error in validator.iter_errors(document):
        if not partial or error.validator not in _NEEDS_THE_WHOLE:
            yield error


def validate(document: Any, kind: str = "config", *, partial: bool = False) -> list[tuple[list, str]]:
    """Every schema violation as ``(path parts, message)``, sorted by path.

    ``partial``: ``document`` is one of several files merged later; errors that only the merged
    settings can decide (``required``, ``oneOf``, ``anyOf``) are left to their validation.
    """
    if _surely_valid(document, kind):  # valid as a whole is valid in part too
        return []
    found = []
    for prefix, instance, validator in _walks(document, kind):
        found += [item for error in _errors(validator, instance, partial) for item in _describe(error, prefix)]
    found.sort(key=lambda item: [str(p) for p in item[0]])
    return found


def _walks(document: Any, kind: str) -> list[tuple[list, Any, Any]]:
    """What the slow walk must visit to word the compiled validator's errors: the list items they
    are in, each against the schema of the list's items, when every error is inside an item of a
    list reached through ``properties`` alone (one bad application among 10,000: 0.1 s, not 8 s);
    otherwise the whole document. An item's errors never depend on its siblings."""
    whole = [([], document, _validator(kind))]
    fast = _fast_validator(kind)
    if fast is None:
        return whole
    try:
        paths = [list(error.instance_path) for error in fast.iter_errors(document)]
    except Exception:  # a value it cannot read (a YAML date, ...)  # noqa: BLE001
        return whole
    items: dict[tuple, list] = {}
    for path in paths:
        cut = next((i for i, part in enumerate(path) if isinstance(part, int)), None)
        if cut is None or not all(isinstance(part, str) for part in path[:cut]):
            return whole
        items[tuple(path[: cut + 1])] = path[: cut + 1]
    if not items:
        return whole
    walks = []
    for prefix in items.values():
        pointer = _items_pointer(kind, prefix[:-1])
        instance = document
        try:
            for part in prefix:
                instance = instance[part]
        except (KeyError, IndexError, TypeError):
            return whole
        if pointer is None:
            return whole
        walks.append((prefix, instance, _sub_validator(*pointer)))
    return walks


def _items_pointer(kind: str, parts: list) -> tuple[str, str] | None:
    """(schema file id, JSON pointer) of the items of the list at ``parts`` when the way there is
    ``properties`` (and plain ``$ref`` hops) only; None otherwise."""
    uri = f"{ID_PREFIX}{kind}.schema.json"
    node: Any = _schemas()[uri]
    pointer = ""
    for part in [*parts, None]:  # None: the list's items
        for _ in range(8):  # plain $ref hops
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str) and set(node) <= {"$ref", "description"}):
                break
            node, uri, pointer = _target(node["$ref"], uri)
        if not isinstance(node, dict):
            return None
        if part is None:
            if not isinstance(node.get("items"), dict) or set(node) & {"prefixItems", "anyOf", "oneOf", "allOf", "$ref"}:
                return None
            return uri, f"{pointer}/items"
        properties = node.get("properties")
        if not isinstance(properties, dict) or part not in properties or set(node) & {"anyOf", "oneOf", "allOf", "$ref"}:
            return None
        escaped = part.replace("~", "~0").replace("/", "~1")
        node, pointer = properties[part], f"{pointer}/properties/{escaped}"
    return None


@lru_cache(maxsize=None)
def _sub_validator(uri: str, pointer: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"{uri}#{pointer}"}, registry=_registry())


# --- finding the file-name fields -------------------------------------------------------------
# Every load resolves the file names a document writes; a walk of the schema beside the document
# (not a jsonschema validator: that package then loads only for messages) follows what can hold
# a value: properties, patternProperties, additionalProperties, items, prefixItems, every branch of
# allOf/anyOf/oneOf, and $ref (into other schema files too).

def _target(ref: str, uri: str) -> tuple[Any, str, str]:
    """What ``ref``, written in the schema file ``uri``, names (``#/$defs/x`` in that file, or
    ``other.schema.json[#/$defs/x]``): the schema (None when there is none), its file's ``$id`` and
    the JSON pointer inside it."""
    document, _, pointer = ref.partition("#")
    if document:
        uri = ID_PREFIX + document if ID_PREFIX + document in _schemas() else document
    node: Any = _schemas().get(uri)
    for part in [p for p in pointer.split("/") if p]:
        node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
    return node, uri, pointer.rstrip("/")


def _walk(instance: Any, node: Any, uri: str, path: list, found: list[list], depth: int = 0) -> None:
    """Collect in ``found`` the paths of the strings ``instance`` holds where ``node`` (a schema
    of the file ``uri``) marks a file name (``x-path``)."""
    if not isinstance(node, dict) or depth > 64:
        return
    if node.get("x-path") and isinstance(instance, str):
        found.append(list(path))
    ref = node.get("$ref")
    if isinstance(ref, str):
        target, target_uri, _ = _target(ref, uri)
        _walk(instance, target, target_uri, path, found, depth + 1)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key) or ():
            _walk(instance, sub, uri, path, found, depth + 1)
    if isinstance(instance, dict):
        properties = node.get("properties") or {}
        patterns = node.get("patternProperties") or {}
        extra = node.get("additionalProperties")
        for key, value in instance.items():
            path.append(key)
            matched = key in properties
            if matched:
                _walk(value, properties[key], uri, path, found, depth + 1)
            for pattern, sub in patterns.items():
                if isinstance(key, str) and re.search(pattern, key):
                    matched = True
                    _walk(value, sub, uri, path, found, depth + 1)
            if not matched and isinstance(extra, dict):
                _walk(value, extra, uri, path, found, depth + 1)
            path.pop()
    elif isinstance(instance, list):
        prefix = node.get("prefixItems") or []
        items = node.get("items")
        for index, value in enumerate(instance):
            path.append(index)
            if index < len(prefix):
                _walk(value, prefix[index], uri, path, found, depth + 1)
            elif isinstance(items, dict):
                _walk(value, items, uri, path, found, depth + 1)
            path.pop()


def _names_no_file(uri: str) -> bool:
    """The schema file ``uri`` marks no file name and refers only inside itself."""
    text = json.dumps(_schemas()[uri])
    return "x-path" not in text and all(ref.startswith("#") for ref in re.findall(r'"\$ref": "([^"]*)"', text))


@lru_cache(maxsize=None)
def _pathless_sections(kind: str) -> frozenset[str]:
    """Top-level sections of ``kind`` whose schema (a file, or a list of one) can hold no file name:
    ``applications`` above all, 10,000 of which the path walk would otherwise visit for nothing."""
    found = set()
    for name, sub in (schema(kind).get("properties") or {}).items():
        target = sub.get("items", sub) if isinstance(sub, dict) else {}
        ref = target.get("$ref") if isinstance(target, dict) else None
        if isinstance(ref, str) and not ref.startswith("#") and _names_no_file(ID_PREFIX + ref):
            found.add(name)
    return frozenset(found)


def path_fields(document: Any, kind: str = "config") -> list[list]:
    """Paths of every string in ``document`` that the schema marks as a file or folder name."""
    if isinstance(document, dict):
        skipped = _pathless_sections(kind)
        document = {key: value for key, value in document.items() if key not in skipped}
    found: list[list] = []
    _walk(document, schema(kind), f"{ID_PREFIX}{kind}.schema.json", [], found)
    unique = {tuple(path): path for path in found}  # a value two branches allow is found twice
    return list(unique.values())
