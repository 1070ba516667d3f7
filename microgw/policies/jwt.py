"""The ``jwt`` policy: read the token, validate it (authenticate stage), check its audience (authorize).

Audience rules (checked only when the token has ``aud``, a string or a list; any value may match):
an ``aud`` value is accepted when it is

1. one of the audiences of this gateway's own issuer (``issuer.audience``),
2. one of the API's extra ``audiences``,
3. the request URI of the API under one of ``server.public_urls`` — see :func:`request_uri_forms`,
4. the id of the identified application, or
5. an audience of that application's ``JWT_HSA`` strategies.

A token without ``aud`` passes unless the API sets ``require_audience``. The token is always
removed from what goes to the native service; the outbound policy may send it on explicitly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Mapping
from urllib.parse import unquote_plus

from microgw.config.model import ApiConfig
from microgw.config.policy_spec import PolicyChecks
from microgw.context import RequestContext
from microgw.credentials import parse_bearer
from microgw.errors import GatewayError, TokenError, missing_credentials
from microgw.policies import app_signed
from microgw.policies.unit import Policy, Staged
from microgw.tokens.claims import audience_values

if TYPE_CHECKING:
    from microgw.services import Services
    from microgw.tokens.validator import TokenValidator

TOKEN = "token"  # what this policy provides to the API's other policies: a validated JWT


@dataclass(frozen=True, slots=True)
class JwtConfig:
    required: bool = True
    auth_servers: tuple[str, ...] | None = None  # as written; None: every auth server
    location: tuple[str, str] = ("header", "Authorization")  # (header|cookie|query, name)
    require_exp: bool = True
    require_audience: bool = False
    audiences: frozenset[str] = field(default_factory=frozenset)


SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "description": "Validate a JSON Web Token.",
    "properties": {
        "required": {
            "type": "boolean",
            "description": "A request without a token gets 401 (default true); false: validated when present."
        },
        "auth_servers": {
            "type": "array",
            "items": {
                "type": "string"
            },
            "minItems": 1,
            "description": "Ids of the auth servers whose tokens are accepted (default all)."
        },
        "token_from": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
            "description": "Where the token is read (default: header Authorization, Bearer scheme).",
            "properties": {
                "header": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Authorization: Bearer scheme; any other header: the raw token."
                },
                "cookie": {
                    "type": "string",
                    "minLength": 1
                },
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Opt-in only: tokens in URLs end up in logs."
                }
            }
        },
        "require_exp": {
            "type": "boolean",
            "description": "Tokens without exp are refused (default true)."
        },
        "require_audience": {
            "type": "boolean",
            "description": "Tokens without aud are refused (default false)."
        },
        "audiences": {
            "type": "array",
            "items": {
                "type": "string"
            },
            "description": "More accepted audiences for this API."
        }
    }
}


def parse(data: Mapping[str, Any]) -> JwtConfig:
    location = next(iter((data.get("token_from") or {"header": "Authorization"}).items()))
    servers = data.get("auth_servers")
    return JwtConfig(
        required=data.get("required", True),
        auth_servers=tuple(servers) if servers else None,
        location=(location[0], location[1]),
        require_exp=data.get("require_exp", True),
        require_audience=data.get("require_audience", False),
        audiences=frozenset(data.get("audiences", ())),
    )


def check(config: JwtConfig, checks: PolicyChecks) -> None:
    for position, server in enumerate(config.auth_servers or ()):
        if server not in checks.auth_server_ids:
            checks.fail_unknown(["auth_servers", position], f"no auth server with id {server!r}")


def request_uri_forms(ctx: RequestContext, bases: tuple[str, ...]) -> set[str]:
    """The strings an ``aud`` value is compared with, for rule 3 (after removing one trailing slash).

    For each configured public URL (``server.public_urls``, e.g. ``https://gw.example.com``) and a
    request to ``/gateway/pets/1.0/dogs?x=1``: ``https://gw.example.com/gateway/pets/1.0`` (the API's
    URL) and ``https://gw.example.com/gateway/pets/1.0/dogs`` (the request URL without its query).
    Scheme and host compare case-insensitively, the path exactly as the client sent it. The
    ``Host`` header is never used: a client could name any host in it.
    """
    api = ctx.route.api
    forms = set()
    for base in bases:
        url = f"{base}/gateway/{api.name}/{api.version}"
        forms.add(url)
        if ctx.resource:
            forms.add(f"{url}/{ctx.resource}".rstrip("/"))
    return forms


def _normalise_uri(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value.rstrip("/")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


class TokenReader:
    """Finds the token where the API says it travels, and marks that place for removal upstream."""

    __slots__ = ("kind", "name", "lower")

    def __init__(self, location: tuple[str, str]) -> None:
        self.kind, self.name = location
        self.lower = self.name.lower()

    def read(self, ctx: RequestContext) -> str | None:
        request = ctx.request
        if self.kind == "header":
            values = request.headers.getall(self.name, ())
            if not values:
                return None
            if len(values) > 1:
                raise GatewayError(400, "invalid_request", f"More than one {self.name} header", challenge="Bearer", bearer_error="invalid_request")
            ctx.remove_headers.add(self.lower)
            if self.lower == "authorization":
                token = parse_bearer(values[0])
                if token is None:
                    if values[0].strip().lower() == "bearer":  # the scheme with nothing after it
                        raise GatewayError(400, "invalid_request", "The bearer token is empty", challenge="Bearer", bearer_error="invalid_request")
                    return None  # another scheme (Basic, ...) is not a bearer token
                return token
            return values[0].strip() or None
        if self.kind == "cookie":
            token = request.cookies.get(self.name)
            if "Cookie" in request.headers:
                _strip_cookie(ctx, self.name)  # the token and its look-alikes never go on
            return token or None
        return _take_query_parameter(ctx, self.name)


_LOOKALIKE = re.compile(r"[\s.\-\[]")


def _normal_name(name: str) -> str:
    """How frameworks may read a parameter or cookie name: PHP turns ``access.token``, ``access token``
    and ``access[token`` into ``access_token`` and ``access_token[]`` into an array of it; some match
    without regard to case."""
    name = name.strip()
    if name.endswith("]") and "[" in name:
        name = name[: name.index("[")]
    return _LOOKALIKE.sub("_", name).lower()


def _lookalike(key: str, name: str) -> bool:
    return key != name and _normal_name(key) == _normal_name(name)


def _strip_cookie(ctx: RequestContext, name: str) -> None:
    kept = []
    removed = False
    for header in ctx.request.headers.getall("Cookie", ()):
        for part in header.split(";"):
            key = part.split("=", 1)[0].strip()
            if part.strip() and key != name and not _lookalike(key, name):
                kept.append(part.strip())
            elif part.strip():
                removed = True
    if not removed:
        return
    ctx.remove_headers.add("cookie")
    if kept:
        ctx.add_headers.append(("Cookie", "; ".join(kept)))


def _take_query_parameter(ctx: RequestContext, name: str) -> str | None:
    if not ctx.query:
        return None
    token = None
    kept = []
    for part in ctx.query.split("&"):
        key, _, value = part.partition("=")
        decoded = unquote_plus(key)
        if decoded == name:
            if token is not None:
                raise GatewayError(400, "invalid_request", f"More than one {name} parameter", challenge="Bearer", bearer_error="invalid_request")
            token = unquote_plus(value)
        elif _lookalike(decoded, name):
            continue  # another token under a name the native service may read as this one: never passed on
        else:
            kept.append(part)
    ctx.query = "&".join(kept)
    return token or None


class JwtAuthenticate:
    """Authenticate stage: a token that is present must be valid; a missing one is refused if required."""

    __slots__ = ("config", "reader", "validator", "servers")

    def __init__(self, config: JwtConfig, validator: "TokenValidator | None") -> None:
        self.config = config
        self.reader = TokenReader(config.location)
        self.validator = validator
        self.servers = frozenset(config.auth_servers) if config.auth_servers else None

    async def apply(self, ctx: RequestContext) -> None:
        token = self.reader.read(ctx)
        if token is None:
            if self.config.required:
                raise missing_credentials("A bearer token is required")
            return
        check = self.check(token)
        ctx.token = token
        ctx.token_location = self.config.location
        ctx.jwt = await check

    def check(self, token: str) -> Awaitable[Any]:
        """The validation of ``token`` to await (a plain method: no extra coroutine on the hot path);
        the oauth2 policy overrides it to introspect opaque tokens."""
        if self.validator is None:
            raise TokenError("no auth server is configured to validate tokens")
        return self.validator.validate(token, allowed_server_ids=self.servers, require_exp=self.config.require_exp)


class AudienceCheck:
    """Authorize stage: the token's audience must name this gateway, this API or the application."""

    __slots__ = ("require", "static", "bases")

    def __init__(self, config: JwtConfig, own_audiences: frozenset[str], public_urls: tuple[str, ...] = ()) -> None:
        self.require = config.require_audience
        self.static = own_audiences | config.audiences
        self.bases = public_urls

    async def apply(self, ctx: RequestContext) -> None:
        verified = ctx.jwt
        if verified is None:
            return
        if app_signed.is_app_signed(verified):
            app_signed.accepted_where_identified(ctx)
            return  # its audience was checked against the application's strategies when identified
        values = audience_values(verified.claims)
        if not values:
            if self.require:
                raise TokenError("the token has no audience")
            return
        if any(value in self.static for value in values):
            return
        if self.bases:
            forms = request_uri_forms(ctx, self.bases)
            if any(_normalise_uri(value) in forms for value in values):
                return
        app = ctx.application
        if app is not None:
            if app.id in values:
                return
            for strategy in getattr(app, "strategies", ()):
                if any(value in strategy.audiences for value in values):
                    return
        raise GatewayError(403, "audience_not_allowed", "The token's audience does not allow this API")


def stages(config: JwtConfig, services: "Services") -> Staged:
    """Validate (authenticate) and check the audience (authorize); the identify policy reuses it."""
    issuer = services.settings.issuer
    own = frozenset(issuer.audience) if issuer else frozenset()
    public = services.settings.server.public_urls
    return [("authenticate", JwtAuthenticate(config, services.validator)), ("authorize", AudienceCheck(config, own, public))]


def build(api: ApiConfig, config: JwtConfig, services: "Services") -> Staged:
    return stages(config, services)


POLICY = Policy(name="jwt", schema=SCHEMA, parse=parse, build=build, check=check, provides=lambda config: frozenset({TOKEN}))
