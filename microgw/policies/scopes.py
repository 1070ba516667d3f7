"""Scopes: policies for some resources and methods of an API (the vendor's API scopes).

A scope names resource path patterns (``/films``, ``/films/{id}``; ``{name}`` or ``*`` is one
segment, a final ``**`` any rest) and optionally methods. Its ``policies`` override the API's policies
of the same name and add to the others (the vendor: "any policy you specify at the API-level is
overridden by the policy defined at the scope-level if the policies are the same").

One pipeline per scope is built with the runtime, next to the API's own; a request picks one after
routing. When several scopes match, the most specific wins: a scope naming the method beats one
that does not (the vendor's example: a WRITE scope on ``POST /paymentdetails`` over a PAYMENT scope on
the resource), then the pattern with more literal segments, then the one without ``**``, then the
first listed. A request matching no scope runs the API's pipeline; an API without scopes never
looks (the request path checks one attribute).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from microgw.config.model import ApiConfig
from microgw.config.policy_spec import PolicyChecks
from microgw.policies.unit import Policy, Staged

if TYPE_CHECKING:
    from microgw.services import Services

NAME = "scopes"

SCHEMA = {
    "type": "array",
    "description": "Policies for some resources/methods (the vendor's API scopes); the most specific matching scope wins.",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["resources", "policies"],
        "properties": {
            "name": {"type": "string"},
            "resources": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "pattern": "^/", "x-expected": "a resource path starting with / (e.g. /films/{id})"},
                "description": "Resource path patterns after /gateway/<api>/<version>: /films, /films/{id}, /files/**.",
            },
            "methods": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z]+$", "x-expected": "an HTTP method name (letters only, e.g. GET)"}, "description": "Default: every method."},
            "policies": {"$ref": "#", "description": "Override the API's policies of the same name, add to the others."},
        },
    },
}


@dataclass(frozen=True, slots=True)
class Pattern:
    text: str
    regex: re.Pattern
    literals: int
    open_ended: bool

    @classmethod
    def parse(cls, text: str) -> "Pattern":
        segments = [s for s in text.strip("/").split("/") if s != ""]
        parts: list[str] = []
        literals = 0
        open_ended = False
        for index, segment in enumerate(segments):
            if segment == "**":
                if index != len(segments) - 1:
                    raise ValueError(f"resource {text!r}: ** may only end a pattern")
                open_ended = True
                parts.append(r"(?:/.*)?")
            elif segment == "*" or (segment.startswith("{") and segment.endswith("}")):
                parts.append(r"/[^/]+")
            else:
                literals += 1
                parts.append("/" + re.escape(segment))
        return cls(text, re.compile("^" + "".join(parts) + "/?$"), literals, open_ended)


@dataclass(frozen=True)
class ScopeConfig:
    name: str
    patterns: tuple[Pattern, ...]
    methods: frozenset[str] | None
    policies: Mapping[str, Any]


def _catalog() -> Mapping[str, Any]:
    from microgw.policies.registry import CATALOG  # the registry lists this module: import it late

    return CATALOG


def parse(items: list) -> tuple[ScopeConfig, ...]:
    catalog = _catalog()
    scopes = []
    for index, item in enumerate(items):
        name = item.get("name") or f"scope {index + 1}"
        policies = {}
        for policy, raw in (item.get("policies") or {}).items():
            if policy == NAME:
                raise ValueError(f"scope {name!r}: a scope cannot hold scopes")
            try:
                policies[policy] = catalog[policy].parse(raw)
            except ValueError as exc:
                raise ValueError(f"scope {name!r}, policy {policy}: {exc}") from None
        methods = item.get("methods")
        scopes.append(
            ScopeConfig(
                name=name,
                patterns=tuple(Pattern.parse(p) for p in item["resources"]),
                methods=frozenset(m.upper() for m in methods) if methods else None,
                policies=MappingProxyType(policies),
            )
        )
    return tuple(scopes)


def merged(api_policies: Mapping[str, Any], scope: ScopeConfig) -> Mapping[str, Any]:
    """The API's policies with the scope's: same names overridden, others added; no scopes inside."""
    out = {name: config for name, config in api_policies.items() if name != NAME}
    out.update(scope.policies)
    return MappingProxyType(out)


def check(config: tuple[ScopeConfig, ...], checks: PolicyChecks) -> None:
    catalog = _catalog()
    for index, scope in enumerate(config):
        policies = merged(checks.policies, scope)
        provided = frozenset().union(*(catalog[n].provides(c) for n, c in policies.items()))
        for name, policy_config in scope.policies.items():
            catalog[name].check(policy_config, checks.nested([index, "policies", name], policies, provided))


def build(api: ApiConfig, config: Any, services: "Services") -> Staged:
    return []  # the scopes' pipelines are built by the runtime next to the API's (pipeline.build_route)


class Scoped:
    """The pipelines of an API's scopes, and which one a request runs."""

    __slots__ = ("entries",)

    def __init__(self, entries: list[tuple[ScopeConfig, tuple, tuple]]) -> None:
        ranked = []
        for order, (scope, stages, exchanges) in enumerate(entries):
            for pattern in scope.patterns:
                rank = (scope.methods is not None, pattern.literals, not pattern.open_ended, -order)
                ranked.append((rank, pattern.regex, scope.methods, stages, exchanges))
        ranked.sort(key=lambda item: item[0], reverse=True)
        self.entries = tuple(item[1:] for item in ranked)

    def choose(self, method: str, resource: str | None, default: tuple[tuple, tuple]) -> tuple[tuple, tuple]:
        path = "/" + (resource or "")
        for regex, methods, stages, exchanges in self.entries:
            if (methods is None or method in methods) and regex.match(path):
                return stages, exchanges
        return default


def portable(items: list, nested: Any) -> list:
    """Each scope's policies made portable as the API's are."""
    return [{**item, "policies": nested(item.get("policies") or {})} for item in items]


POLICY = Policy(name=NAME, schema=SCHEMA, parse=parse, build=build, check=check, portable=portable)
