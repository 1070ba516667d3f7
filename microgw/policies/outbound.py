"""Outbound stage: what credentials and identity go on to the native service.

By default the credentials the gateway consumed (the token's location, the API key header, the
Basic header used to identify) were already marked for removal by earlier stages. This stage can
send the client's JWT on (``INCOMING_JWT``), send fixed Basic credentials (``HTTP_BASIC``), remove
more headers, and add identity headers. Header values are rendered predictably:

* a string claim as it is when it is printable ASCII, otherwise as a JSON string (``"\\u00e9"``);
* numbers, booleans and null as JSON (``42``, ``true``, ``null``);
* a list as its items rendered by these rules and joined with ``,`` (``admin,ops``) — unless an item
  is empty or holds ``,``, ``"`` or edge spaces, when the whole list is compact JSON instead, so a
  value can never pose as two;
* an object as compact JSON with ASCII escapes;
* a missing claim sends no header.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from microgw.config.model import ApiConfig
from microgw.config.policies import OutboundPolicyConfig, parse_outbound
from microgw.policies.context import RequestContext
from microgw.policies.pipeline import register

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


def render(value: Any) -> str:
    if isinstance(value, str):
        return value if _printable(value) else json.dumps(value)
    if isinstance(value, list):
        items = [render(item) for item in value]
        if any(not item or "," in item or '"' in item or item != item.strip() for item in items):
            return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
        return ",".join(items)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, sort_keys=isinstance(value, dict))


class OutboundStage:
    __slots__ = ("config", "basic_header", "strip")

    def __init__(self, config: OutboundPolicyConfig) -> None:
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
            for header, path in identity.claims:
                value = claim_at(claims, path)
                if value is not _MISSING:
                    ctx.add_headers.append((header, render(value)))


@register("outbound")
def build(api: ApiConfig, raw: Any, services: Any) -> list[tuple[str, Any]]:
    return [("outbound", OutboundStage(parse_outbound(raw)))]
