"""``conditionalRouting``: the endpoint chosen by the request — a header, a query parameter, the
resource path or the method — from rules tried in order; no rule matches: the API's endpoint (or its
``loadBalancer`` pool). The vendor's context-based / conditional routing, in microgw's YAML form.

A condition names one part of the request and one test: ``equals`` (one of a list), ``matches`` (a
regular expression, searched), ``present`` (true/false). A path is tested on the resource as the
client sent it, with a leading ``/`` (``/films/1``); a rule's ``when`` may list several conditions,
all of which must hold. The endpoint is chosen in the last request step (``outbound``), before
every policy that wraps the forward: ``loadBalancer`` then leaves it alone, and a cache keys on what
it is told to — name the headers routing looks at in ``serviceResultCache.headers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from microgw.config.model import ApiConfig
from microgw.context import RequestContext
from microgw.policies import load_balancer
from microgw.policies.unit import Policy, Staged
from microgw.routing import UpstreamTarget

if TYPE_CHECKING:
    from microgw.services import Services

_CONDITION = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 2,
    "maxProperties": 2,
    "properties": {
        "header": {"type": "string", "minLength": 1},
        "query": {"type": "string", "minLength": 1},
        "path": {"const": True, "description": "Test the resource path (with a leading /)."},
        "method": {"const": True, "description": "Test the request method."},
        "equals": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "matches": {"type": "string", "minLength": 1, "description": "A regular expression, searched in the value."},
        "present": {"type": "boolean"},
    },
    "x-message": "a condition names one of header, query, path: true, method: true and one test: equals, matches or present",
}

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["rules"],
    "description": "The endpoint chosen by header, query parameter, path or method; the first rule that matches wins, else the API's endpoint.",
    "properties": {
        "rules": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["when", "endpoint"],
                "properties": {
                    "name": {"type": "string"},
                    "when": {"oneOf": [_CONDITION, {"type": "array", "minItems": 1, "items": _CONDITION}]},
                    "endpoint": {"type": "string", "pattern": "^https?://", "x-expected": "an http:// or https:// URL"},
                },
            },
        },
    },
}

PARTS = ("header", "query", "path", "method")
TESTS = ("equals", "matches", "present")


@dataclass(frozen=True, slots=True)
class Condition:
    part: str  # header | query | path | method
    name: str | None  # the header or parameter name
    test: str  # equals | matches | present
    values: tuple[str, ...] = ()
    pattern: re.Pattern | None = None
    present: bool = True

    def holds(self, ctx: RequestContext) -> bool:
        request = ctx.request
        if self.part == "header":
            value = request.headers.get(self.name)
        elif self.part == "query":
            value = request.rel_url.query.get(self.name)
        elif self.part == "path":
            value = "/" + (ctx.resource or "")
        else:
            value = ctx.method or request.method
        if self.test == "present":
            return (value is not None) == self.present
        if value is None:
            return False
        if self.test == "equals":
            return value in self.values
        return self.pattern.search(value) is not None  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class Rule:
    conditions: tuple[Condition, ...]
    endpoint: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    rules: tuple[Rule, ...]


def _condition(data: Mapping[str, Any]) -> Condition:
    part = next(p for p in PARTS if p in data)
    test = next(t for t in TESTS if t in data)
    name = data[part] if part in ("header", "query") else None
    if test == "equals":
        raw = data["equals"]
        return Condition(part, name, test, values=tuple([raw] if isinstance(raw, str) else raw))
    if test == "matches":
        try:
            return Condition(part, name, test, pattern=re.compile(data["matches"]))
        except re.error as exc:
            raise ValueError(f"{data['matches']!r} is not a regular expression ({exc})") from None
    return Condition(part, name, test, present=bool(data["present"]))


def parse(data: Mapping[str, Any]) -> RoutingConfig:
    rules = []
    for index, item in enumerate(data["rules"]):
        when = item["when"] if isinstance(item["when"], list) else [item["when"]]
        try:
            rules.append(Rule(tuple(_condition(c) for c in when), item["endpoint"], item.get("name", "")))
        except ValueError as exc:
            raise ValueError(f"rules[{index}]: {exc}") from None
    return RoutingConfig(tuple(rules))


class ConditionalRouting:
    __slots__ = ("rules",)

    def __init__(self, rules: tuple[tuple[Rule, UpstreamTarget], ...]) -> None:
        self.rules = rules

    async def apply(self, ctx: RequestContext) -> None:
        for rule, target in self.rules:
            if all(condition.holds(ctx) for condition in rule.conditions):
                ctx.upstream = target
                return


def build(api: ApiConfig, config: RoutingConfig, services: "Services") -> Staged:
    chosen = load_balancer.targets(api, [rule.endpoint for rule in config.rules], services)
    rules = tuple(zip(config.rules, chosen))
    return [("outbound", ConditionalRouting(rules))]


POLICY = Policy(name="conditionalRouting", schema=SCHEMA, parse=parse, build=build)
