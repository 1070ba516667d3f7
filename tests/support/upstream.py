"""A real aiohttp upstream ("native service") on a free loopback port, recording what it received."""

from __future__ import annotations

import asyncio
import hashlib

from aiohttp import web

from support.loopback import LoopbackServer


class Upstream(LoopbackServer):
    """Endpoints: ``/echo/...`` (JSON of the request), ``/sink`` (hashes a streamed body),
    ``/stream?size=N`` (streams N bytes, chunked), ``/slow?delay=S``, ``/reset`` (cuts the
    connection), ``/status/N``, ``/mirror`` (answers the request's body with its content type),
    ``/doc/<name>`` (answers ``documents[name]``: (content type, body[, headers]), with status ``document_status``).
    ``received`` keeps every request's method, path and headers."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.documents: dict[str, tuple] = {}
        self.document_status = 200

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _record(self, request: web.Request) -> None:
        self.received.append({"method": request.method, "path_qs": request.raw_path, "headers": dict(request.headers)})

    async def echo(self, request: web.Request) -> web.Response:
        self._record(request)
        body = await request.read()
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        return web.json_response(
            {
                "method": request.method,
                "path_qs": request.raw_path,
                "headers": {k: v[0] if len(v) == 1 else v for k, v in headers.items()},
                "body": body.decode("utf-8", "replace"),
            },
            headers={"X-Upstream": "yes", "Connection": "keep-alive, X-Hop", "X-Hop": "secret"},
        )

    async def sink(self, request: web.Request) -> web.Response:
        self._record(request)
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.content.iter_chunked(1 << 16):
            digest.update(chunk)
            size += len(chunk)
        return web.json_response({"size": size, "sha256": digest.hexdigest(), "chunked": request.headers.get("Transfer-Encoding")})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        size = int(request.query.get("size", "1048576"))
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        block = b"x" * 65536
        sent = 0
        while sent < size:
            part = block[: min(len(block), size - sent)]
            await response.write(part)
            sent += len(part)
        await response.write_eof()
        return response

    async def slow(self, request: web.Request) -> web.Response:
        self._record(request)
        await asyncio.sleep(float(request.query.get("delay", "5")))
        return web.json_response({"slept": True})

    async def reset(self, request: web.Request) -> web.Response:
        self._record(request)
        request.transport.abort()
        await asyncio.sleep(0.1)
        return web.Response()

    async def status(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.Response(status=int(request.match_info["code"]), text="status")

    async def mirror(self, request: web.Request) -> web.Response:
        self._record(request)
        body = await request.read()
        return web.Response(body=body, headers={"Content-Type": request.headers.get("Content-Type", "application/octet-stream")})

    async def doc(self, request: web.Request) -> web.Response:
        self._record(request)
        found = self.documents.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="no such document")
        extra = found[2] if len(found) > 2 else {}
        return web.Response(status=self.document_status, body=found[1], headers={"Content-Type": found[0], **extra})

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/echo{tail:.*}", self.echo)
        app.router.add_route("*", "/sink", self.sink)
        app.router.add_get("/stream", self.stream)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/reset", self.reset)
        app.router.add_route("*", "/status/{code}", self.status)
        app.router.add_route("*", "/mirror{tail:.*}", self.mirror)
        app.router.add_route("*", "/doc/{name:.+}", self.doc)
        return app

