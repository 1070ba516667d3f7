"""``setMediaType``: the Content-Type and Accept a request gets when the client sent none (the vendor's
Set Media Type, transport stage). Values may hold the vendor's request variables (not the payload)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from microgw.config.model import ApiConfig
from microgw.context import RequestContext
from microgw.policies.transformation import header_value
from microgw.policies.unit import Policy, Staged
from microgw.policies.variables import Scope, Template
from microgw.policies.vendor import Invalid, VendorAction, VendorTemplate

if TYPE_CHECKING:
    from microgw.services import Services

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "description": "Content-Type and Accept for requests that have none (the vendor's setMediaType).",
    "properties": {
        "content_type": {"type": "string", "minLength": 1, "description": "e.g. application/json; only for requests with a body."},
        "accept": {"type": "string", "minLength": 1},
    },
}


@dataclass(frozen=True, slots=True)
class MediaTypeConfig:
    content_type: Template | None = None
    accept: Template | None = None


def _template(text: str | None) -> Template | None:
    if text is None:
        return None
    template = Template.compile(text)
    if template.reads_payload:
        raise ValueError("setMediaType values cannot read the payload")
    return template


def parse(data: Mapping[str, Any]) -> MediaTypeConfig:
    return MediaTypeConfig(_template(data.get("content_type")), _template(data.get("accept")))


class MediaTypeStage:
    __slots__ = ("config",)

    def __init__(self, config: MediaTypeConfig) -> None:
        self.config = config

    async def apply(self, ctx: RequestContext) -> None:
        headers = ctx.request.headers
        config = self.config
        if config.content_type is not None and "Content-Type" not in headers and ctx.request.body_exists:
            ctx.add_headers.append(("Content-Type", header_value(config.content_type.render(Scope(ctx)))))
        if config.accept is not None and "Accept" not in headers:
            ctx.add_headers.append(("Accept", header_value(config.accept.render(Scope(ctx)))))


def build(api: ApiConfig, config: MediaTypeConfig, services: "Services") -> Staged:
    return [("outbound", MediaTypeStage(config))]


def _from_vendor(action: VendorAction) -> dict[str, Any]:
    """``setMediaType``: ``defaultContentType`` and ``defaultAcceptHeader`` (also read: ``contentType``,
    ``acceptHeader``)."""
    out = {}
    content_type = (action.first("defaultContentType") or action.first("contentType") or "").strip()
    accept = (action.first("defaultAcceptHeader") or action.first("acceptHeader") or "").strip()
    if content_type:
        out["content_type"] = content_type
    if accept:
        out["accept"] = accept
    if not out:
        raise Invalid("names neither a default Content-Type nor a default Accept header")
    return out


VENDOR = VendorTemplate(
    template="setMediaType",
    stage="transport",
    parameters=frozenset({"defaultContentType", "defaultAcceptHeader", "contentType", "acceptHeader"}),
    to_yaml=_from_vendor,
)

POLICY = Policy(name="setMediaType", schema=SCHEMA, parse=parse, build=build, vendor=(VENDOR,))
