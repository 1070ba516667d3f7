"""A parent gateway that answers whatever a test sets: the vendor's REST subset, on loopback."""

from __future__ import annotations

import json

from aiohttp import web

from support.loopback import LoopbackServer

EMPTY = {"alias": {"alias": []}, "strategies": {"strategies": []}, "applications": {"applications": []}, "apis": {"apiResponse": []}}


class FakeParent(LoopbackServer):
    """``answers[name]`` is the JSON (or bytes) served at ``<prefix>/rest/apigateway/<name>``;
    ``archives[api id]`` the zip served for ``archive?apis=<id>``; ``extra[path]`` any other JSON.
    ``hits`` counts requests by name."""

    def __init__(self, prefix: str = "", **answers) -> None:
        self.prefix = prefix
        self.answers: dict = {**EMPTY, **answers}
        self.archives: dict[str, bytes] = {}
        self.extra: dict[str, object] = {}
        self.hits: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def _body(self, value) -> web.Response:
        if isinstance(value, bytes):
            return web.Response(body=value, content_type="application/json")
        return web.Response(body=json.dumps(value).encode(), content_type="application/json")

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path[len(self.prefix):]
        name = path.removeprefix("/rest/apigateway/")
        self.hits[name] = self.hits.get(name, 0) + 1
        if name == "archive":
            archive = self.archives.get(request.query.get("apis", ""))
            return web.Response(body=archive, content_type="application/zip") if archive else web.Response(status=404)
        if path in self.extra:
            return self._body(self.extra[path])
        if name in self.answers:
            return self._body(self.answers[name])
        return web.Response(status=404)

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        return app
