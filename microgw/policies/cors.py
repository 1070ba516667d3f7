"""CORS: the gateway answers preflights itself and puts CORS headers on the answers of allowed origins.

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) never reaches the
native service nor the authentication policies (browsers send no credentials with it): it is
answered 204 with the allowed methods and headers, or 403 when the origin, method or a requested
header is not allowed. Any other request from an allowed origin gets ``Access-Control-Allow-Origin``
(and the exposed headers, credentials flag) on whatever answer goes out — forwarded, mocked or a
refusal — so a browser can read a 401 too. A request from another origin passes unchanged, without
CORS headers: the browser keeps the answer from the page.

``*`` in ``allowed_origins`` allows any origin; an item such as ``https://*.example.com`` allows
its subdomains. With credentials allowed, the origin is echoed instead of ``*`` (the Fetch standard
forbids ``*`` with credentials).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from aiohttp import web

from microgw.config.model import ApiConfig
from microgw.context import RequestContext
from microgw.errors import Answered, GatewayError
from microgw.policies.unit import Policy, Staged
from microgw.policies.vendor import Invalid, VendorAction, VendorTemplate, first, values

if TYPE_CHECKING:
    from microgw.services import Services

DEFAULT_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["allowed_origins"],
    "description": "CORS: preflights answered by the gateway, CORS headers on the answers of allowed origins (the vendor's cors).",
    "properties": {
        "allowed_origins": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "minLength": 1},
            "description": "Origins allowed (scheme://host[:port]); '*' any; 'https://*.example.com' its subdomains.",
        },
        "allow_methods": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z]+$", "x-expected": "an HTTP method name (letters only, e.g. GET)"}, "description": "Default GET, POST, PUT, DELETE, PATCH, HEAD."},
        "allow_headers": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "Request headers allowed; '*' any (default: none beyond the CORS-safelisted ones)."},
        "expose_headers": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "allow_credentials": {"type": "boolean", "description": "Default false."},
        "max_age": {"type": "integer", "minimum": 0, "description": "Seconds a browser may cache a preflight (default 10)."},
    },
}


@dataclass(frozen=True, slots=True)
class CorsConfig:
    origins: tuple[str, ...]
    methods: tuple[str, ...] = DEFAULT_METHODS
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    credentials: bool = False
    max_age: int = 10


def parse(data: Mapping[str, Any]) -> CorsConfig:
    return CorsConfig(
        origins=tuple(o.rstrip("/") for o in data["allowed_origins"]),
        methods=tuple(dict.fromkeys(m.upper() for m in data.get("allow_methods", DEFAULT_METHODS))),
        headers=tuple(data.get("allow_headers", ())),
        expose=tuple(data.get("expose_headers", ())),
        credentials=bool(data.get("allow_credentials", False)),
        max_age=int(data.get("max_age", 10)),
    )


def _origin_pattern(origins: tuple[str, ...]) -> re.Pattern | None:
    """One regex for the listed origins (case-insensitive); None when any origin is allowed."""
    if "*" in origins:
        return None
    parts = [re.escape(o.lower()).replace(r"\*", r"[a-z0-9-]+(?:\.[a-z0-9-]+)*") for o in origins]
    return re.compile("^(?:" + "|".join(parts) + ")$")


class CorsStage:
    __slots__ = ("config", "pattern", "methods", "allowed_headers", "any_header", "preflight_headers", "simple_headers")

    def __init__(self, config: CorsConfig) -> None:
        self.config = config
        self.pattern = _origin_pattern(config.origins)
        self.methods = frozenset(config.methods)
        self.any_header = "*" in config.headers
        self.allowed_headers = frozenset(h.lower() for h in config.headers)
        shared: list[tuple[str, str]] = []
        if config.credentials:
            shared.append(("Access-Control-Allow-Credentials", "true"))
        self.preflight_headers = shared + [
            ("Access-Control-Allow-Methods", ", ".join(config.methods)),
            ("Access-Control-Max-Age", str(config.max_age)),
        ]
        self.simple_headers = shared + ([("Access-Control-Expose-Headers", ", ".join(config.expose))] if config.expose else [])

    def _allows(self, origin: str) -> bool:
        return self.pattern is None or self.pattern.match(origin.lower()) is not None

    def _allow_origin(self, origin: str) -> list[tuple[str, str]]:
        if self.pattern is None and not self.config.credentials:
            return [("Access-Control-Allow-Origin", "*")]
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]

    async def apply(self, ctx: RequestContext) -> None:
        headers = ctx.request.headers
        origin = headers.get("Origin")
        if origin is None:
            return
        requested = headers.get("Access-Control-Request-Method")
        if ctx.request.method == "OPTIONS" and requested is not None:
            raise Answered(self._preflight(origin, requested, headers.get("Access-Control-Request-Headers", "")))
        if self._allows(origin):
            ctx.answer_headers.extend(self._allow_origin(origin) + self.simple_headers)

    def _preflight(self, origin: str, method: str, requested: str) -> web.StreamResponse:
        if not self._allows(origin):
            raise GatewayError(403, "cors_origin_not_allowed", "This origin may not call the API", headers={"Vary": "Origin"})
        if method not in self.methods:
            raise GatewayError(403, "cors_method_not_allowed", f"Method {method[:20]} is not allowed from other origins", headers={"Vary": "Origin"})
        names = [n.strip() for n in requested.split(",") if n.strip()]
        if not self.any_header:
            refused = [n for n in names if n.lower() not in self.allowed_headers]
            if refused:
                raise GatewayError(403, "cors_header_not_allowed", f"Header {refused[0][:60]} is not allowed from other origins", headers={"Vary": "Origin"})
        response = web.Response(status=204)
        for name, value in self._allow_origin(origin) + self.preflight_headers:
            response.headers[name] = value
        if names:
            response.headers["Access-Control-Allow-Headers"] = ", ".join(names)
        return response


def build(api: ApiConfig, config: CorsConfig, services: "Services") -> Staged:
    return [("preflight", CorsStage(config))]


def _from_vendor(action: VendorAction) -> dict[str, Any]:
    """``cors``: one ``corsAttributes`` group (or the keys at the top) of allowedOrigins,
    allowHeaders, exposeHeaders, allowCredentials, allowMethods, maxAge."""
    groups = action.groups("corsAttributes")
    items = groups[0] if groups else action.parameters
    origins = [o for o in values(items, "allowedOrigins") if o.strip()]
    if not origins:
        raise Invalid("names no allowedOrigins")
    out: dict[str, Any] = {"allowed_origins": origins}
    methods = [m.strip().upper() for m in values(items, "allowMethods") if m.strip()]
    if methods:
        out["allow_methods"] = methods
    for ours, theirs in (("allow_headers", "allowHeaders"), ("expose_headers", "exposeHeaders")):
        found = [h.strip() for h in values(items, theirs) if h.strip()]
        if found:
            out[ours] = found
    credentials = (first(items, "allowCredentials") or "").strip().lower()
    if credentials in ("true", "false"):
        out["allow_credentials"] = credentials == "true"
    age = (first(items, "maxAge") or "").strip()
    if age.isdigit():
        out["max_age"] = int(age)
    return out


VENDOR = VendorTemplate(
    template="cors",
    stage="transport",
    parameters=frozenset({"corsAttributes", "allowedOrigins", "allowHeaders", "exposeHeaders", "allowCredentials", "allowMethods", "maxAge"}),
    to_yaml=_from_vendor,
)

POLICY = Policy(name="cors", schema=SCHEMA, parse=parse, build=build, vendor=(VENDOR,))
