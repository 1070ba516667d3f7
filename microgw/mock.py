"""Mocked APIs: answered by the gateway itself (static or echoing), so samples need nothing else.

An echo shows the request *as it would reach a native service* — after the pipeline removed and
added headers — which makes it a faithful stand-in in tests and demos.
"""

from __future__ import annotations

from aiohttp import web

from microgw.errors import GatewayError
from microgw.context import RequestContext
from microgw.proxy import check_declared_length, upstream_headers
from microgw.responses import WholeAnswer, json_response

ECHO_BODY_LIMIT = 1 << 20


async def answer(ctx: RequestContext) -> web.StreamResponse:
    mock = ctx.route.api.mock
    if not mock.echo:
        return WholeAnswer(status=mock.status, body=mock.body, headers=dict(mock.headers))
    request = ctx.request
    check_declared_length(request, ECHO_BODY_LIMIT)
    chunks: list[bytes] = [ctx.body] if ctx.body is not None else []
    size = len(ctx.body or b"")
    while ctx.body is None and (chunk := await request.content.readany()):
        size += len(chunk)
        if size > ECHO_BODY_LIMIT:
            raise GatewayError(413, "body_too_large", f"An echo takes at most {ECHO_BODY_LIMIT} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if size > ECHO_BODY_LIMIT:
        raise GatewayError(413, "body_too_large", f"An echo takes at most {ECHO_BODY_LIMIT} bytes")
    headers: dict[str, list[str]] = {}
    for name, value in upstream_headers(ctx):
        headers.setdefault(name.lower(), []).append(value)
    if ctx.body is not None and "content-length" in headers:  # a policy changed the body: its own length, as the forward sends
        headers["content-length"] = [str(len(body))]
    echo = {
        "method": request.method,
        "api": ctx.route.api.name,
        "version": ctx.route.api.version,
        "resource": ctx.resource,
        "query": ctx.query,
        "headers": {k: v[0] if len(v) == 1 else v for k, v in headers.items()},
        "body": body.decode("utf-8", "replace"),
        "application": getattr(ctx.application, "id", None),
    }
    return json_response(echo, status=mock.status, headers=dict(mock.headers))
