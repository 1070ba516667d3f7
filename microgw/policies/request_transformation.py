"""``requestTransformation``: change the request before the native service sees it — headers, query
parameters, resource path, method, JSON members — with the vendor's variables in values.

An exchange stage (it runs after authentication and ``100-continue``); the body is read (bounded)
only when a JSON member changes or a value reads the payload. A client's JSON body that cannot be
read then is refused with 400; a path that would climb out of the endpoint (``..``) with 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from microgw.config.model import ApiConfig
from microgw.context import RequestContext
from microgw.errors import GatewayError
from microgw.policies import transformation as tf
from microgw.policies.bodies import JSON, kind_of, request_body
from microgw.policies.unit import Policy, Send, Staged
from microgw.policies.variables import Scope, Template
from microgw.policies.vendor import VendorTemplate

if TYPE_CHECKING:
    from aiohttp import web

    from microgw.services import Services


class RequestTransformation:
    __slots__ = ("config", "limit")

    def __init__(self, config: tf.TransformConfig, limit: int) -> None:
        self.config = config
        self.limit = limit

    async def exchange(self, ctx: RequestContext, send: Send) -> "web.StreamResponse":
        config = self.config
        scope = Scope(ctx)
        document = None
        if (config.changes_json or config.reads_payload) and kind_of(ctx.request.headers.get("Content-Type")) == JSON:
            body = await request_body(ctx, self.limit)
            if body:
                try:
                    document = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise GatewayError(400, "invalid_body", "The request body is not valid JSON") from None
                scope.request_json = document

        def render(template: Template) -> str:
            return template.render(scope)

        for name in config.remove_headers:
            self._drop_header(ctx, name)
        for name, template in config.set_headers:
            value = tf.header_value(render(template))
            self._drop_header(ctx, name.lower())
            ctx.add_headers.append((name, value))
        ctx.query = tf.transform_query(ctx.query, config, render)
        if config.path is not None:
            resource = tf.safe_resource(render(config.path))
            if resource is None:
                raise GatewayError(400, "invalid_path", "The transformed path may not contain '.' or '..' segments")
            ctx.resource = resource
        if config.method is not None:
            ctx.method = config.method
        if config.changes_json and document is not None:
            ctx.body = orjson.dumps(tf.transform_json(document, config, render))
        return await send(ctx)

    @staticmethod
    def _drop_header(ctx: RequestContext, lower: str) -> None:
        ctx.remove_headers.add(lower)
        if any(name.lower() == lower for name, _ in ctx.add_headers):
            ctx.add_headers = [(name, value) for name, value in ctx.add_headers if name.lower() != lower]


def build(api: ApiConfig, config: tf.TransformConfig, services: "Services") -> Staged:
    return [("exchange", RequestTransformation(config, services.settings.server.max_body_size))]


VENDOR = VendorTemplate(template="requestTransformation", stage="requestProcessing", parameters=tf.VENDOR_PARAMETERS, to_yaml=tf.from_vendor("request"))

POLICY = Policy(name="requestTransformation", schema=tf.schema("request"), parse=tf.parse, build=build, vendor=(VENDOR,))
