"""An RFC 7662 introspection endpoint on loopback whose answers a test controls.

``tokens`` maps a token to its answer (``{"active": true, "scope": "...", ...}``); unknown tokens are
inactive. Clients authenticate with HTTP Basic ``client_id``/``client_secret`` (401 otherwise).
``hits`` counts requests, ``seen`` keeps each request's form; ``delay`` slows answers, ``status``
answers an error instead.
"""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import unquote

from aiohttp import web

from support.loopback import LoopbackServer


class IntrospectionServer(LoopbackServer):
    handler_cancellation = True  # a delayed answer stops when the gateway gives up
    shutdown_timeout = 0.5

    def __init__(self, client_id: str = "microgw", client_secret: str = "s3cret/+:") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.tokens: dict[str, dict] = {}
        self.hits = 0
        self.seen: list[dict] = []
        self.delay = 0.0
        self.status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/introspect"

    def _authenticated(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        user, _, password = base64.b64decode(value).decode().partition(":")
        return unquote(user) == self.client_id and unquote(password) == self.client_secret  # RFC 6749 §2.3.1

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        form = dict(await request.post())
        self.seen.append({"form": form, "content_type": request.content_type})
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.Response(status=self.status, text="unavailable")
        if not self._authenticated(request):
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response(self.tokens.get(form.get("token", ""), {"active": False}))

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/introspect", self._handle)
        app.router.add_post("/realms/shop/protocol/openid-connect/token/introspect", self._handle)  # Keycloak's path (samples/oauth2.yml)
        return app
