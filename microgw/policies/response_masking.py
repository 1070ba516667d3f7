"""``responseDataMasking``: mask or filter fields of the native service's answer before the client sees it.

Answers whose content type the criteria cover (JSON with JSONPath or regex criteria, XML with XPath
or regex ones, other text with regex ones) are taken whole for this (bounded by ``max_body_size``: 502
over it); every other answer streams as without the policy, whatever its size. The native service
is asked for answers unencoded (``Accept-Encoding`` is not passed on; gzip/deflate answers are decoded
anyway). An answer whose body is not what its content type says is not sent: 502, since passing it
unmasked could leak what the policy protects. Answers of other content types pass unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from microgw.config.model import ApiConfig
from microgw.context import RequestContext
from microgw.errors import GatewayError
from microgw.policies import masking
from microgw.policies.bodies import answer_body, replace_answer_body
from microgw.policies.request_masking import applies
from microgw.policies.unit import Policy, Send, Staged
from microgw.policies.vendor import VendorTemplate

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.services import Services


class ResponseMasking:
    __slots__ = ("config",)

    def __init__(self, config: masking.MaskingConfig) -> None:
        self.config = config

    async def exchange(self, ctx: RequestContext, send: Send) -> "web.StreamResponse":
        criteria = self.config.criteria_for(ctx.application)
        if criteria.empty:
            return await send(ctx)
        ctx.want_answer(lambda content_type: applies(criteria, content_type))  # others stream on
        ctx.remove_headers.add("accept-encoding")
        response = await send(ctx)
        content_type = response.headers.get("Content-Type")
        if not applies(criteria, content_type):
            return response
        body = answer_body(response)
        if body is None:
            return response
        try:
            replace_answer_body(response, masking.mask_body(body, content_type, criteria))
        except masking.MaskingFailed as exc:
            raise GatewayError(502, "bad_answer", f"The native service's answer {exc}; it was not sent unmasked") from None
        return response


def build(api: ApiConfig, config: masking.MaskingConfig, services: "Services") -> Staged:
    return [("exchange", ResponseMasking(config))]


VENDOR = VendorTemplate(template="responseDataMasking", stage="responseProcessing", parameters=masking.VENDOR_PARAMETERS, to_yaml=masking.from_vendor)

POLICY = Policy(name="responseDataMasking", schema=masking.schema("response"), parse=masking.parse, build=build, check=masking.check, vendor=(VENDOR,))
