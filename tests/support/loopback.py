"""Serve an aiohttp app on a free loopback port (test servers: upstreams, IdPs/JWKS, fake parents)."""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    """Base of the test servers: ``build_app`` says what it serves, ``start``/``stop`` run it.

    ``start(ssl_context, port=0)``: TLS when a context is given (or was set before), a free port unless
    a test needs a known one (e.g. a server that comes up after its client started)."""

    runner: web.AppRunner | None = None
    port: int = 0
    ssl_context = None
    handler_cancellation = False  # True: a slow handler stops when its client gives up
    shutdown_timeout = 1.0

    def build_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, ssl_context=None, *, port: int = 0):
        if ssl_context is not None:
            self.ssl_context = ssl_context
        self.runner = web.AppRunner(
            self.build_app(), access_log=None, handler_cancellation=self.handler_cancellation, shutdown_timeout=self.shutdown_timeout
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port, ssl_context=self.ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
