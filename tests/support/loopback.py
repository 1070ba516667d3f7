"""Serve an aiohttp app on a free loopback port (test servers: upstreams, IdPs, fake parents)."""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    """Base of the test servers: ``build_app`` says what it serves, ``start``/``stop`` run it."""

    runner: web.AppRunner | None = None
    port: int = 0
    ssl_context = None

    def build_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, ssl_context=None):
        self.ssl_context = ssl_context
        self.runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
