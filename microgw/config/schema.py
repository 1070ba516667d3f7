"""JSON Schema validation of configuration documents, with every error and the paths of file fields.

Schemas live in ``schemas/`` (one per kind of file) and reference each other by ``$id``. A property
marked ``"x-path": true`` holds a file or folder name; the loader resolves it against the folder of
the file that wrote it, so configs can be moved together with their keys.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from microgw.config.secrets import SECRET_NAMES as _SECRET_NAMES

ID_PREFIX = "https://schemas.microgw.dev/"


def schema_dir() -> Path:
    """Installed wheels carry the schemas inside the package; a source tree has them at the top."""
    packaged = Path(__file__).resolve().parent.parent / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


@lru_cache(maxsize=1)
def _registry() -> Registry:
    resources = []
    for file in sorted(schema_dir().glob("*.schema.json")):
        contents = json.loads(file.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def schema(kind: str) -> dict:
    return _registry().contents(f"{ID_PREFIX}{kind}.schema.json")


@lru_cache(maxsize=None)
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(schema(kind), registry=_registry())




def _describe(error: ValidationError) -> tuple[list, str]:
    """A path and a message; schemas may word a failed choice with ``x-message``; secrets stay hidden."""
    if error.validator in ("oneOf", "anyOf"):
        if isinstance(error.schema, dict) and "x-message" in error.schema:
            return list(error.absolute_path), error.schema["x-message"]
        if error.context:
            return _describe(best_match(error.context))
    path = list(error.absolute_path)
    if path and isinstance(path[-1], str) and path[-1].lower() in _SECRET_NAMES:
        return path, f"invalid value (not shown, it is a secret): expected {error.validator} {error.validator_value!r}"
    return path, error.message


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
    found = [_describe(error) for error in _errors(_validator(kind), document, partial)]
    found.sort(key=lambda item: [str(p) for p in item[0]])
    return found


# --- finding the file-name fields -------------------------------------------------------------

def _mark(validator, value, instance, schema_) -> Iterator[ValidationError]:
    if value and isinstance(instance, str):
        yield ValidationError("path field")


def _descend_all(validator, subschemas, instance, schema_) -> Iterator[ValidationError]:
    for sub in subschemas:
        yield from validator.descend(instance, sub)


def _follow_ref(validator, ref, instance, schema_) -> Iterator[ValidationError]:
    """Follow ``$ref`` as the finder itself: a referenced file's ``$schema`` would otherwise hand the
    rest of the walk to a plain validator, which knows no ``x-path`` (policy files were missed)."""
    resolved = validator._resolver.lookup(ref)
    contents = resolved.contents
    if isinstance(contents, dict) and "$schema" in contents:
        contents = {k: v for k, v in contents.items() if k != "$schema"}
    yield from validator.descend(instance, contents, resolver=resolved.resolver)


_STRUCTURE = ("properties", "items", "prefixItems", "additionalProperties", "patternProperties", "allOf")
_PathFinder = validators.create(
    meta_schema=Draft202012Validator.META_SCHEMA,
    validators={
        **{k: Draft202012Validator.VALIDATORS[k] for k in _STRUCTURE},
        "$ref": _follow_ref,
        "anyOf": _descend_all,
        "oneOf": _descend_all,
        "x-path": _mark,
    },
)


def path_fields(document: Any, kind: str = "config") -> list[list]:
    """Paths of every string in ``document`` that the schema marks as a file or folder name."""
    finder = _PathFinder(schema(kind), registry=_registry())
    return [list(e.absolute_path) for e in finder.iter_errors(document) if e.validator == "x-path"]
