"""A small aiohttp native service for benchmarks: GET /hello answers a short JSON body."""

import sys

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=b'{"hello":"world"}', content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/api/hello", hello)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
