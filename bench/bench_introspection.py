"""Introspection checks per second: answered from the cache vs asked at a real RFC 7662 server.

Run by hand: ``python bench/bench_introspection.py [--rounds 5] [--n 20000] [--uncached 1000]``.
The server is a small aiohttp app on loopback in its own process (so its work does not count against
the client's event loop); the client is microgw's :class:`~microgw.tokens.introspection.Introspector`
as the gateway runs it. *cached*: one token checked over and over (a busy client); *uncached*: every
check a new token, so every check is an HTTP round trip (the cost the cache saves); *single flight*:
``--burst`` concurrent checks of one new token, counted at the server. Each figure is the best of
``rounds`` rounds (the machine is shared: the best is the least noisy estimate).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import time

from microgw.config.security import IntrospectionConfig, IntrospectionTuning
from microgw.tokens.introspection import Introspector

CLIENT, SECRET = "bench", "bench-secret"


def serve(sock: socket.socket, hits) -> None:
    from aiohttp import web

    async def introspect(request: web.Request) -> web.Response:
        hits.value += 1
        form = await request.post()
        token = form.get("token", "")
        return web.json_response({"active": True, "exp": int(time.time()) + 3600, "scope": "orders.read", "client_id": "web", "sub": token[-8:]})

    app = web.Application()
    app.router.add_post("/introspect", introspect)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


async def measure(args, port: int, hits) -> None:
    tuning = IntrospectionTuning(cache_entries=max(args.n, 10000))
    config = IntrospectionConfig(f"http://127.0.0.1:{port}/introspect", CLIENT, SECRET, None, tuning)
    introspector = Introspector("bench", "bench", None, config, clock_skew=60)
    await introspector.start()
    try:
        await introspector.introspect("warm-up")
        best_cached = best_uncached = 0.0
        for round_ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.n):
                await introspector.introspect("warm-up")
            best_cached = max(best_cached, args.n / (time.perf_counter() - start))
            start = time.perf_counter()
            for i in range(args.uncached):
                await introspector.introspect(f"token-{round_}-{i}")
            best_uncached = max(best_uncached, args.uncached / (time.perf_counter() - start))
        before = hits.value
        await asyncio.gather(*(introspector.introspect("burst-token") for _ in range(args.burst)))
        burst_hits = hits.value - before
    finally:
        await introspector.close()
    print(f"cached:    {best_cached:10,.0f} checks/s  ({1e6 / best_cached:.1f} µs each)")
    print(f"uncached:  {best_uncached:10,.0f} checks/s  ({1e3 / best_uncached:.2f} ms each, one HTTP round trip)")
    print(f"ratio:     {best_cached / best_uncached:10,.0f}x")
    print(f"burst:     {args.burst} concurrent checks of one new token -> {burst_hits} request(s) at the server")
    print(f"load:      {os.getloadavg()[0]:.2f} (1 min)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=20000, help="cached checks per round")
    parser.add_argument("--uncached", type=int, default=1000, help="uncached checks per round")
    parser.add_argument("--burst", type=int, default=100)
    args = parser.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    hits = multiprocessing.Value("i", 0)
    server = multiprocessing.Process(target=serve, args=(sock, hits), daemon=True)
    server.start()
    try:
        asyncio.run(measure(args, port, hits))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
