"""Outbound stage: what credentials and identity go on to the native service.

By default the credentials the gateway consumed (the token's location, the API key header, the
Basic header used to identify) were already marked for removal by earlier stages. This stage can
send the client's JWT on (``INCOMING_JWT``), send fixed Basic credentials (``HTTP_BASIC``), remove
more headers, and add identity headers. Header values are rendered predictably:

* a string claim as it is when it is printable ASCII without ``,``, ``"`` or edge spaces, otherwise
  as a JSON string (``"\\u00e9"``, ``"alice, admin"``): a value can never read as a list or as another;
* numbers, booleans and null as JSON (``42``, ``true``, ``null``);
* a list as its items rendered by these rules and joined with ``,`` (``admin,ops``) — unless an item
  is empty or holds ``,``, ``"`` or edge spaces, when the whole list is compact JSON instead, so a
  value can never pose as two;
* an object as compact JSON with ASCII escapes;
* a missing claim sends no header.

An application token this gateway minted (marked ``microgw_token: application``) carries claims the
application chose itself (``claimsSet``): identity headers take only the claims the gateway set in
it (``sub``, ``iss``, ``aud``, times) unless ``identity_headers.application_claims`` is true, so an
application can never make the gateway assert ``X-User: admin`` for it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from microgw.config.model import ApiConfig
from microgw.config.policy_spec import PolicyChecks
from microgw.context import RequestContext
from microgw.policies.jwt import TOKEN
from microgw.policies.unit import Policy, Staged
from microgw.tokens.issuer import GATEWAY_SET_CLAIMS, MINTED_APPLICATION, MINTED_CLAIM

if TYPE_CHECKING:
    from microgw.services import Services


@dataclass(frozen=True, slots=True)
class IdentityHeaders:
    application_id: str | None = None
    application_name: str | None = None
    claims: tuple[tuple[str, str], ...] = ()  # (header, dotted claim)
    application_claims: bool = False  # custom claims of gateway-minted application tokens may fill headers

    def names(self) -> set[str]:
        found = {h for h in (self.application_id, self.application_name) if h}
        return {n.lower() for n in found | {h for h, _ in self.claims}}


@dataclass(frozen=True, slots=True)
class OutboundConfig:
    auth: str = "NONE"  # NONE | INCOMING_JWT | HTTP_BASIC
    basic_user: str | None = None
    basic_password: str | None = None
    remove_headers: frozenset[str] = frozenset()  # lower-case
    identity: IdentityHeaders = IdentityHeaders()


_NAME = {"type": "string", "minLength": 1}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "description": "What goes on to the native service (the vendor's outboundTransportAuthentication and more).",
    "properties": {
        "auth": {
            "enum": ["NONE", "INCOMING_JWT", "HTTP_BASIC"],
            "description": "NONE: the credentials the gateway consumed are removed (default); INCOMING_JWT: the client's JWT is sent as Authorization: Bearer; HTTP_BASIC: fixed credentials.",
        },
        "basic": {
            "type": "object",
            "additionalProperties": False,
            "required": ["user", "password"],
            "properties": {"user": {"type": "string"}, "password": {"type": "string"}},
        },
        "remove_headers": {
            "type": "array",
            "items": _NAME,
            "description": "REMOVE_INCOMING_HTTP_HEADERS: client headers never passed on.",
        },
        "identity_headers": {
            "type": "object",
            "additionalProperties": False,
            "description": "Tell the native service who called; client headers of these names are always removed first.",
            "properties": {
                "application_id": _NAME,
                "application_name": _NAME,
                "claims": {
                    "type": "object",
                    "additionalProperties": _NAME,
                    "description": "header name -> claim name (dotted for nested claims).",
                },
                "application_claims": {
                    "type": "boolean",
                    "description": "Let the claims an application chose itself in a token this gateway minted for it (POST getJsonWebToken claimsSet) fill identity headers (default false: only the claims the gateway set, such as sub).",
                },
            },
        },
    },
}


def parse(data: Mapping[str, Any]) -> OutboundConfig:
    basic = data.get("basic") or {}
    identity = data.get("identity_headers") or {}
    return OutboundConfig(
        auth=data.get("auth", "NONE"),
        basic_user=basic.get("user"),
        basic_password=basic.get("password"),
        remove_headers=frozenset(h.lower() for h in data.get("remove_headers", ())),
        identity=IdentityHeaders(
            application_id=identity.get("application_id"),
            application_name=identity.get("application_name"),
            claims=tuple((identity.get("claims") or {}).items()),
            application_claims=bool(identity.get("application_claims", False)),
        ),
    )


def check(config: OutboundConfig, checks: PolicyChecks) -> None:
    if config.auth == "HTTP_BASIC" and config.basic_user is None:
        checks.fail(["auth"], "HTTP_BASIC needs basic: {user, password}")
    if config.auth == "INCOMING_JWT" and TOKEN not in checks.provided:
        checks.fail(["auth"], "INCOMING_JWT needs a jwt policy (or jwtClaims identification) to read the token")

_MISSING = object()


def claim_at(claims: dict, path: str) -> Any:
    """A claim by name; a dotted name reaches into nested objects unless a top-level claim has it."""
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _plain(text: str) -> bool:
    """Sent as it is: printable ASCII that cannot read as a list, a quoted value or another value."""
    return bool(text) and _printable(text) and "," not in text and '"' not in text and text == text.strip()


def render(value: Any) -> str:
    if isinstance(value, str):
        return value if _plain(value) else json.dumps(value)
    if isinstance(value, list):
        items = [render(item) for item in value]
        if any(not item or "," in item or '"' in item or item != item.strip() for item in items):
            return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
        return ",".join(items)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, sort_keys=isinstance(value, dict))


class OutboundStage:
    __slots__ = ("config", "basic_header", "strip")

    def __init__(self, config: OutboundConfig) -> None:
        self.config = config
        self.basic_header = None
        if config.auth == "HTTP_BASIC":
            raw = f"{config.basic_user}:{config.basic_password}".encode()
            self.basic_header = "Basic " + base64.b64encode(raw).decode()
        self.strip = config.remove_headers | config.identity.names()

    async def apply(self, ctx: RequestContext) -> None:
        config = self.config
        ctx.remove_headers |= self.strip
        if config.auth == "INCOMING_JWT" and ctx.token is not None:
            ctx.remove_headers.add("authorization")
            ctx.add_headers.append(("Authorization", f"Bearer {ctx.token}"))
        elif self.basic_header is not None:
            ctx.remove_headers.add("authorization")
            ctx.add_headers.append(("Authorization", self.basic_header))
        identity = config.identity
        app = ctx.application
        if app is not None:
            if identity.application_id:
                ctx.add_headers.append((identity.application_id, render(app.id)))
            if identity.application_name:
                ctx.add_headers.append((identity.application_name, render(app.name)))
        if identity.claims and ctx.jwt is not None:
            claims = ctx.jwt.claims
            minted = claims.get(MINTED_CLAIM) == MINTED_APPLICATION and not identity.application_claims
            for header, path in identity.claims:
                if minted and path not in GATEWAY_SET_CLAIMS:
                    continue  # the application wrote it: never an identity the gateway vouches for
                value = claim_at(claims, path)
                if value is not _MISSING:
                    ctx.add_headers.append((header, render(value)))


def build(api: ApiConfig, config: OutboundConfig, services: "Services") -> Staged:
    return [("outbound", OutboundStage(config))]


POLICY = Policy(name="outbound", schema=SCHEMA, parse=parse, build=build, check=check)
