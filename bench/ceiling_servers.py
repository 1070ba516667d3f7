"""The Python ceilings microgw's data plane is judged against: four minimal servers, no policies.

Run by bench/ceilings.py (by hand):  python bench/ceiling_servers.py KIND PORT UPSTREAM_URL

  aio-hello   aiohttp's low-level server answering by itself (aiohttp's own cost per request)
  raw-hello   an asyncio Protocol with httptools (llhttp) answering by itself
  aio-proxy   aiohttp's low-level server forwarding through microgw's UpstreamPool
  raw-proxy   the asyncio Protocol + httptools server forwarding through the same pool

Each handles keep-alive GETs only (what wrk sends); they are measuring sticks, not servers.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httptools

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from microgw.http_client import UpstreamPool  # noqa: E402

BODY = b'{"hello":"world"}'
SKIP = frozenset({"host", "connection", "content-length", "transfer-encoding", "keep-alive"})


def kept(headers) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in SKIP]


async def aiohttp_server(kind: str, port: int, upstream: str, pool: UpstreamPool) -> None:
    from aiohttp import web
    from aiohttp.web_server import Server

    async def handler(request):
        if kind == "aio-hello":
            return web.Response(body=BODY, content_type="application/json")
        answer = await pool.request("GET", upstream + request.raw_path, kept(request.headers.items()))
        try:
            body = await answer.read(1 << 20)
        finally:
            answer.release()
        return web.Response(status=answer.status, body=body, headers=kept(answer.headers))

    await asyncio.get_running_loop().create_server(Server(handler, access_log=None), "127.0.0.1", port, backlog=1024)


class RawServer(asyncio.Protocol):
    """One connection: httptools parses, each complete request is answered in order."""

    kind = "raw-hello"
    upstream = ""
    pool: UpstreamPool

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.headers: list[tuple[str, str]] = []
        self.url = b"/"

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_message_complete(self) -> None:
        headers, self.headers = self.headers, []
        if self.kind == "raw-hello":
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
        else:
            asyncio.ensure_future(self.forward(self.url.decode("latin-1"), headers))

    async def forward(self, target: str, headers: list[tuple[str, str]]) -> None:
        answer = await self.pool.request("GET", self.upstream + target, kept(headers))
        try:
            body = await answer.read(1 << 20)
        finally:
            answer.release()
        head = [f"HTTP/1.1 {answer.status} {answer.reason}\r\n"]
        head += [f"{name}: {value}\r\n" for name, value in kept(answer.headers)]
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        self.transport.write("".join(head).encode("latin-1") + body)


async def main(kind: str, port: int, upstream: str) -> None:
    pool = UpstreamPool(256)
    if kind.startswith("aio-"):
        await aiohttp_server(kind, port, upstream, pool)
    else:
        RawServer.kind, RawServer.upstream, RawServer.pool = kind, upstream, pool
        await asyncio.get_running_loop().create_server(RawServer, "127.0.0.1", port, backlog=1024)
    await asyncio.Event().wait()


if __name__ == "__main__":
    kind, port, upstream = sys.argv[1], int(sys.argv[2]), sys.argv[3].rstrip("/")
    if kind not in ("aio-hello", "raw-hello", "aio-proxy", "raw-proxy"):
        raise SystemExit(f"unknown kind {kind}")
    try:
        import uvloop  # the loop microgw runs on

        uvloop.run(main(kind, port, upstream))
    except ImportError:
        asyncio.run(main(kind, port, upstream))
