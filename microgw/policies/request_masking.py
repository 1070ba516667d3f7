"""``requestDataMasking``: mask or filter fields of the request body before the native service sees it.

The body is read whole (bounded by ``max_body_size``: 413 over it) only when the criteria for the
caller apply to its content type; other requests stream as usual. A body that is not what its
content type says is refused with 400 (it could not be masked, so it does not go on).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from microgw.config.model import ApiConfig
from microgw.context import RequestContext
from microgw.errors import GatewayError
from microgw.policies import masking
from microgw.policies.bodies import JSON, OTHER, XML, kind_of, request_body
from microgw.policies.unit import Policy, Send, Staged
from microgw.policies.vendor import VendorTemplate

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.services import Services


def applies(criteria: masking.Criteria, content_type: str | None) -> bool:
    kind = kind_of(content_type)
    return (kind == JSON and bool(criteria.json)) or (kind == XML and bool(criteria.xml)) or (kind != OTHER and bool(criteria.regex))


class RequestMasking:
    __slots__ = ("config", "limit")

    def __init__(self, config: masking.MaskingConfig, limit: int) -> None:
        self.config = config
        self.limit = limit

    async def exchange(self, ctx: RequestContext, send: Send) -> "web.StreamResponse":
        criteria = self.config.criteria_for(ctx.application)
        content_type = ctx.request.headers.get("Content-Type")
        if not criteria.empty and applies(criteria, content_type) and (ctx.body is not None or ctx.request.body_exists):
            body = await request_body(ctx, self.limit)
            try:
                ctx.body = masking.mask_body(body, content_type, criteria)
            except masking.MaskingFailed as exc:
                raise GatewayError(400, "invalid_body", f"The request body {exc}") from None
        return await send(ctx)


def build(api: ApiConfig, config: masking.MaskingConfig, services: "Services") -> Staged:
    return [("exchange", RequestMasking(config, services.settings.server.max_body_size))]


VENDOR = VendorTemplate(template="requestDataMasking", stage="requestProcessing", parameters=masking.VENDOR_PARAMETERS, to_yaml=masking.from_vendor)

POLICY = Policy(name="requestDataMasking", schema=masking.schema("request"), parse=masking.parse, build=build, check=masking.check, vendor=(VENDOR,))
