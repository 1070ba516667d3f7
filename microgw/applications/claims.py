"""Claim sets: how a verified token's claims identify an application.

Semantics (these are the README's words too):

* A token matches a **claim set** when EVERY claim of the set matches (AND); an application matches
  when ANY of its claim sets matches (OR). A set is never empty (an empty set would match anybody).
* A **missing claim never matches**, whatever the expected value (``null`` only matches a claim that
  is present with the value ``null``).
* **Values are compared as JSON values**: ``1 == 1.0``, but ``"1" != 1`` and ``true != "true"``
  and ``true != 1``; objects compare member by member, lists element by element.
* **Lists in the token**: a list-valued claim matches a scalar (or object) expected value when it
  CONTAINS that value (``roles: [user, admin]`` matches ``roles: admin``).
* **Lists in the set**: an expected list means "the token carries ALL of these" - the token's list
  must contain every expected element, in any order; a scalar token value counts as a one-element
  list. So ``roles: [admin, ops]`` needs both roles, and ``roles: [admin]`` equals ``roles: admin``.
* **Dotted names reach nested claims**: ``realm_access.roles`` is ``claims["realm_access"]["roles"]``.
  Precedence, at every level: a member whose name is the WHOLE remaining name wins (so namespaced
  claims such as ``https://example.com/roles`` work as written); otherwise the name is split at
  its dots from left to right (``a.b.c`` tries ``a`` -> ``b.c``, then ``a.b`` -> ``c``), descending only
  into objects. Resolution picks the value; it never falls back to another path because the first
  value did not match. Lists are not traversed (``groups.name`` does not look inside list items).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterator

MISSING: Any = object()  # the claim is absent (distinct from a claim whose value is null)


def resolve(claims: Mapping[str, Any], name: str) -> Any:
    """The value a (possibly dotted) claim name designates in ``claims``, or :data:`MISSING`."""
    value = claims.get(name, MISSING)
    if value is not MISSING:
        return value
    dot = name.find(".")
    while dot != -1:
        inner = claims.get(name[:dot])
        if isinstance(inner, Mapping):
            value = resolve(inner, name[dot + 1:])
            if value is not MISSING:
                return value
        dot = name.find(".", dot + 1)
    return MISSING


def _kind(value: Any) -> str:
    # bool before int: in Python True == 1, in JSON they differ.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "other"


def json_equal(a: Any, b: Any) -> bool:
    """Equality of two JSON values (no bool/number or string/number coercion)."""
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if kind == "object":
        return len(a) == len(b) and all(k in b and json_equal(v, b[k]) for k, v in a.items())
    return a == b


def _normal(value: Any) -> Any:
    """A copy whose integral floats are ints, so equal JSON values give equal canonical text."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _normal(v) for k, v in value.items()}
    return value


_CANONICAL = dict(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_encode = json.JSONEncoder(**_CANONICAL).encode
_encode_finite = json.JSONEncoder(**_CANONICAL, allow_nan=False).encode


def canonical(value: Any) -> str:
    """Canonical JSON text: equal under :func:`json_equal` <=> equal text (NaN aside, never equal)."""
    return _encode(_normal(value))


def value_key(value: Any) -> Any:
    """A hashable key with the equality of :func:`json_equal`, cheap for strings (the usual claim).

    Strings are their own key; tagged tuples keep ``true``, ``1`` and ``"1"`` apart (Python would
    hash ``True`` and ``1`` alike); arrays and objects go through :func:`canonical`.
    """
    if value.__class__ is str:
        return value
    kind = _kind(value)
    if kind in ("array", "object"):
        return ("json", canonical(value))
    if kind == "number" and isinstance(value, float) and math.isnan(value):
        return ("nan",)  # never equal to anything; the full check refuses it anyway
    return (kind, value)


def _contains(items: list | tuple, expected: Any) -> bool:
    if expected.__class__ is str:
        return any(item.__class__ is str and item == expected for item in items)
    return any(json_equal(item, expected) for item in items)


def value_matches(actual: Any, expected: Any) -> bool:
    """Does one token value satisfy one expected value (see the module docstring)?"""
    if actual is MISSING:
        return False
    if isinstance(expected, (list, tuple)):
        have = actual if isinstance(actual, (list, tuple)) else (actual,)
        return all(_contains(have, e) for e in expected)
    if isinstance(actual, (list, tuple)):
        return _contains(actual, expected)
    if expected.__class__ is str:
        return actual.__class__ is str and actual == expected
    return json_equal(actual, expected)


def _checker(expected: Any) -> Callable[[Any], bool]:
    """``value_matches`` specialised for one expected value; strings (the usual case) get a fast path.

    For a string, ``in`` on a list is exact: ``str.__eq__`` is never true for a non-string.
    """
    if expected.__class__ is str:
        def string_matches(actual: Any) -> bool:
            kind = actual.__class__
            if kind is str:
                return actual == expected
            return (kind is list or kind is tuple) and expected in actual

        return string_matches
    return lambda actual: value_matches(actual, expected)


def _freeze(value: Any) -> Any:
    """Deep copy into tuples / read-only mappings so a built model cannot be changed through it."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    return value


@dataclass(frozen=True, slots=True)
class ClaimSet:
    """Claims that together identify an application. Build with :meth:`of`.

    ``claims`` holds ``(name, canonical JSON of the expected value)`` sorted by name: hashable and
    comparable, so two sets written differently (1 vs 1.0, key order) are equal.
    """

    claims: tuple[tuple[str, str], ...]
    expected: tuple[tuple[str, Any], ...] = field(compare=False, repr=False)
    checks: tuple[tuple[str, bool, Callable[[Any], bool]], ...] = field(compare=False, repr=False, default=())

    @classmethod
    def of(cls, mapping: Mapping[str, Any]) -> ClaimSet:
        """Raises ValueError for an empty set, a non-string name or a value that is not JSON."""
        if not mapping:
            raise ValueError("a claim set needs at least one claim (an empty set would match any token)")
        pairs = []
        for name, value in sorted(mapping.items(), key=lambda item: str(item[0])):
            if not isinstance(name, str) or not name:
                raise ValueError("claim names must be non-empty strings")
            if isinstance(value, (list, tuple)) and not value:
                raise ValueError(f"claim {name!r}: an empty list would match any token that has the claim")
            try:
                text = _encode_finite(_normal(value))
            except (TypeError, ValueError):
                raise ValueError(f"claim {name!r}: the value must be a JSON value (no dates, NaN or infinity)") from None
            pairs.append((name, text, _freeze(value)))
        return cls(
            tuple((n, t) for n, t, _ in pairs),
            tuple((n, v) for n, _, v in pairs),
            tuple((n, "." in n, _checker(v)) for n, _, v in pairs),
        )

    def matches(self, claims: Mapping[str, Any]) -> bool:
        """True when every claim of the set matches the token's claims."""
        for name, dotted, check in self.checks:
            if not check(resolve(claims, name) if dotted else claims.get(name, MISSING)):
                return False
        return True

    def anchors(self) -> Iterator[tuple[str, Any]]:
        """``(name, value_key)`` pairs any matching token must carry: one per expected scalar, one
        per element of an expected list. The index files a set under the rarest of them."""
        for name, expected in self.expected:
            for element in expected if isinstance(expected, tuple) else (expected,):
                yield name, value_key(element)

    def __len__(self) -> int:
        return len(self.claims)
