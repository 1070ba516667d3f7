"""The ``oauth2`` policy: accept OAuth 2 access tokens and require scopes (RFC 6749/6750/7662).

Authenticate: the bearer token (read where the ``jwt`` policy would read it) is

* **introspected** (RFC 7662, :mod:`microgw.tokens.introspection`) when it is not a JWT and an
  allowed auth server has ``remoteIntrospectionConfig``; several such servers are asked in the
  order configured until one says active. A JWT is introspected too when its ``iss`` is that of a
  server with ``introspection.tokens: all`` (or, for such a server without an issuer, when no
  other server knows the ``iss``);
* otherwise **validated locally**, exactly as the ``jwt`` policy validates (same validator, cache
  and audience rules).

Either way the token's claims are the request's validated token (``ctx.jwt``): the audience rules,
``identify`` (jwtClaims, oAuth2Token), ``outbound`` claim headers and transformations read them alike.

Authorize: the token's scopes — ``scope`` (space-separated, RFC 7662/RFC 9068) and ``scp`` (a list
or a string, as Azure AD and Okta write it) — must hold the API's ``scopes`` (``match: all``, the
default, or ``any``) and those of every ``resources`` entry the request's path and method fall in.
Refusal: 403 ``insufficient_scope`` with ``WWW-Authenticate: Bearer error="insufficient_scope",
scope="..."`` naming the scopes of the first requirement not met (RFC 6750 §3.1). Scopes are always
checked on the claims of this request: an introspection answer is cached, the decision never is.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from microgw.config.model import ApiConfig
from microgw.config.policy_spec import PolicyChecks
from microgw.context import RequestContext
from microgw.errors import GatewayError, TokenError
from microgw.policies import jwt
from microgw.policies.scopes import Pattern
from microgw.policies.unit import Policy, Staged

if TYPE_CHECKING:
    from microgw.services import Services
    from microgw.tokens.introspection import Introspector
    from microgw.tokens.validator import TokenValidator

MATCH = ("all", "any")


@dataclass(frozen=True, slots=True)
class ScopeRule:
    """Scopes required where a request's resource matches ``patterns`` (None: every resource) and its
    method is one of ``methods`` (None: every method)."""

    scopes: tuple[str, ...]
    match: str = "all"
    patterns: tuple[Pattern, ...] | None = None
    methods: frozenset[str] | None = None

    def applies(self, resource: str, method: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return self.patterns is None or any(p.regex.match(resource) for p in self.patterns)

    def met_by(self, granted: frozenset[str]) -> bool:
        if self.match == "any":
            return any(scope in granted for scope in self.scopes)
        return all(scope in granted for scope in self.scopes)


@dataclass(frozen=True, slots=True)
class OAuth2Config:
    token: jwt.JwtConfig
    rules: tuple[ScopeRule, ...] = ()


_SCOPES = {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^[!#-\\[\\]-~]+$", "x-expected": "a scope name (printable ASCII, no space, quote or backslash)"}}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "description": "Accept OAuth 2 access tokens (JWTs validated locally, others introspected, RFC 7662) and require scopes.",
    "properties": {
        **{k: v for k, v in jwt.SCHEMA["properties"].items()},
        "scopes": {**_SCOPES, "description": "Scopes every request of the API needs."},
        "match": {"enum": list(MATCH), "description": "all (default): every scope listed; any: at least one."},
        "resources": {
            "type": "array",
            "description": "More scopes for some resources and methods; every entry a request falls in applies.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["scopes"],
                "properties": {
                    "resources": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "pattern": "^/", "x-expected": "a resource path starting with / (e.g. /orders/{id})"},
                        "description": "Resource path patterns: /orders, /orders/{id}, /files/** (default: every resource).",
                    },
                    "methods": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z]+$", "x-expected": "an HTTP method name (letters only, e.g. GET)"}, "description": "Default: every method."},
                    "scopes": _SCOPES,
                    "match": {"enum": list(MATCH)},
                },
            },
        },
    },
}


def parse(data: Mapping[str, Any]) -> OAuth2Config:
    rules: list[ScopeRule] = []
    if data.get("scopes"):
        rules.append(ScopeRule(tuple(data["scopes"]), data.get("match", "all")))
    for item in data.get("resources") or ():
        patterns = tuple(Pattern.parse(text) for text in item["resources"]) if item.get("resources") else None
        methods = frozenset(m.upper() for m in item["methods"]) if item.get("methods") else None
        rules.append(ScopeRule(tuple(item["scopes"]), item.get("match", "all"), patterns, methods))
    return OAuth2Config(token=jwt.parse({k: v for k, v in data.items() if k in jwt.SCHEMA["properties"]}), rules=tuple(rules))


def check(config: OAuth2Config, checks: PolicyChecks) -> None:
    jwt.check(config.token, checks)


def token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """``scope`` (space-separated text, or a list) and ``scp`` (a list or text) together."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return frozenset(found)


def _unverified_issuer(token: str) -> str | None:
    """The ``iss`` a JWT claims, read without checking anything: it only picks where to check it."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, IndexError):
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None


class OAuth2Authenticate(jwt.JwtAuthenticate):
    """Authenticate stage: validate a JWT locally or introspect the token (see the module's notes)."""

    __slots__ = ("opaque", "all_by_issuer", "all_any_issuer")

    def __init__(self, config: jwt.JwtConfig, validator: "TokenValidator | None", introspectors: Mapping[str, "Introspector"]) -> None:
        super().__init__(config, validator)
        allowed = [i for sid, i in introspectors.items() if self.servers is None or sid in self.servers]
        self.opaque = tuple(allowed)
        self.all_by_issuer = {i.issuer: i for i in allowed if i.tokens == "all" and i.issuer}
        self.all_any_issuer = next((i for i in allowed if i.tokens == "all" and not i.issuer), None)

    async def check(self, token: str):
        if token.count(".") != 2:
            if self.opaque:
                return await self._introspect(token)
        elif self.all_by_issuer or self.all_any_issuer is not None:
            iss = _unverified_issuer(token)
            introspector = self.all_by_issuer.get(iss) if iss else None
            if introspector is None and self.all_any_issuer is not None:
                known = self.validator is not None and iss is not None and self.validator.server_for_issuer(iss) is not None
                introspector = None if known else self.all_any_issuer
            if introspector is not None:
                return await introspector.introspect(token)
        if self.validator is None:
            raise TokenError("no auth server is configured to validate this token")
        return await self.validator.validate(token, allowed_server_ids=self.servers, require_exp=self.config.require_exp)

    async def _introspect(self, token: str):
        """Ask each introspecting server in order; the first active answer wins."""
        refusal: GatewayError | None = None
        unavailable: GatewayError | None = None
        for introspector in self.opaque:
            try:
                return await introspector.introspect(token)
            except TokenError as exc:
                refusal = refusal or exc
            except GatewayError as exc:  # 503: another server may still know the token
                unavailable = unavailable or exc
        raise unavailable or refusal  # type: ignore[misc]


class ScopeCheck:
    """Authorize stage: the token's scopes must meet every requirement that applies to the request."""

    __slots__ = ("rules",)

    def __init__(self, rules: tuple[ScopeRule, ...]) -> None:
        self.rules = rules

    async def apply(self, ctx: RequestContext) -> None:
        verified = ctx.jwt
        if verified is None:
            return  # no token and none required
        resource = "/" + (ctx.resource or "").split("?", 1)[0]
        method = ctx.request.method
        granted = token_scopes(verified.claims)
        for rule in self.rules:
            if rule.applies(resource, method) and not rule.met_by(granted):
                needed = " ".join(rule.scopes)
                kind = "one of the scopes" if rule.match == "any" and len(rule.scopes) > 1 else "the scope" if len(rule.scopes) == 1 else "the scopes"
                raise GatewayError(
                    403, "insufficient_scope", f"The token lacks {kind} {needed}",
                    challenge="Bearer", bearer_error="insufficient_scope", scope=needed,
                )


def stages(config: OAuth2Config, services: "Services") -> Staged:
    """Authenticate (validate or introspect), then audience and scopes; ``identify`` reuses it."""
    found = jwt.stages(config.token, services)
    audience = next(stage for step, stage in found if step == "authorize")
    staged: Staged = [("authenticate", OAuth2Authenticate(config.token, services.validator, services.introspectors)), ("authorize", audience)]
    if config.rules:
        staged.append(("authorize", ScopeCheck(config.rules)))
    return staged


def build(api: ApiConfig, config: OAuth2Config, services: "Services") -> Staged:
    return stages(config, services)


POLICY = Policy(name="oauth2", schema=SCHEMA, parse=parse, build=build, check=check, provides=lambda config: frozenset({jwt.TOKEN}))
