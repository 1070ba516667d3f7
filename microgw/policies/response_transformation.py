"""``responseTransformation``: change the native service's answer before the client sees it — headers,
status, JSON members — with the vendor's variables in values (``${response.headers.X}`` too).

The answer is taken whole for this (bounded by ``max_body_size``: 502 over it): its headers and
status can only change before it is sent. JSON changes apply to JSON answers; others pass with
their body unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from microgw.config.model import ApiConfig
from microgw.context import RequestContext
from microgw.policies import transformation as tf
from microgw.policies.bodies import JSON, answer_body, kind_of, replace_answer_body
from microgw.policies.unit import Policy, Send, Staged
from microgw.policies.variables import Scope, Template
from microgw.policies.vendor import VendorTemplate

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.services import Services


class ResponseTransformation:
    __slots__ = ("config",)

    def __init__(self, config: tf.TransformConfig) -> None:
        self.config = config

    async def exchange(self, ctx: RequestContext, send: Send) -> "web.StreamResponse":
        config = self.config
        ctx.want_answer()  # headers and status change before the answer starts
        if config.changes_json or config.reads_payload:
            ctx.remove_headers.add("accept-encoding")
        response = await send(ctx)
        scope = Scope(ctx, response)
        document = None
        if (config.changes_json or config.reads_payload) and kind_of(response.headers.get("Content-Type")) == JSON:
            body = answer_body(response)
            if body:
                try:
                    document = orjson.loads(body)
                except orjson.JSONDecodeError:
                    document = None  # not JSON after all: its body passes unchanged
                scope.response_json = document

        def render(template: Template) -> str:
            return template.render(scope)

        rendered = [(name, tf.header_value(render(template))) for name, template in config.set_headers]
        for name in config.remove_headers:
            response.headers.popall(name, None)
        for name, value in rendered:
            response.headers[name] = value
        if config.status is not None:
            response.set_status(config.status, config.reason)
        if config.changes_json and document is not None:
            replace_answer_body(response, orjson.dumps(tf.transform_json(document, config, render)))
        return response


def build(api: ApiConfig, config: tf.TransformConfig, services: "Services") -> Staged:
    return [("exchange", ResponseTransformation(config))]


VENDOR = VendorTemplate(template="responseTransformation", stage="responseProcessing", parameters=tf.VENDOR_PARAMETERS, to_yaml=tf.from_vendor("response"))

POLICY = Policy(name="responseTransformation", schema=tf.schema("response"), parse=tf.parse, build=build, vendor=(VENDOR,))
