"""Attack: slow or half-sent request bodies on one API must not starve the other APIs of upstream
connections (server.body_timeout, server.upstream_connections_per_api)."""

from __future__ import annotations

import asyncio
import json


async def _open_slow_post(port: int, api: str, declared: int, sent: bytes):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /gateway/{api}/1.0/sink HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {declared}\r\n\r\n".encode() + sent
    )
    await writer.drain()
    return reader, writer


async def _answer(reader: asyncio.StreamReader, timeout: float = 15) -> tuple[int, dict, dict]:
    raw = await asyncio.wait_for(reader.read(65536), timeout)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body) if body else {}


async def _until(condition, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition never met"
        await asyncio.sleep(0.02)


async def test_slow_bodies_on_one_api_leave_the_others_served(gateway, upstream, client):
    gw = await gateway({
        "server": {"upstream_connections": 4, "upstream_connections_per_api": 2, "body_timeout": 2},
        "apis": [
            {"name": "upload", "version": "1.0", "endpoint": upstream.url, "timeouts": {"connect": 8}},
            {"name": "other", "version": "1.0", "endpoint": f"{upstream.url}/echo"},
        ],
    })
    port = gw.ports["http"]
    attackers = [await _open_slow_post(port, "upload", 1000, b"x" * 10) for _ in range(4)]
    # the first two reach the native service and then stop sending: they hold two pooled connections
    await _until(lambda: sum(1 for r in upstream.received if r["path_qs"] == "/sink") >= 2)
    for _ in range(3):  # a bystander on another API is served at once, many times over
        async with client.get(f"{gw.http}/gateway/other/1.0/ok", timeout=3) as resp:
            assert resp.status == 200
    # the attacker's stalled bodies end in 408 and a closed connection, never an endless hold
    for reader, writer in attackers:
        status, headers, body = await _answer(reader)
        assert status == 408, body
        assert body["code"] == "body_timeout"
        assert headers.get("connection", "").lower() == "close"
        assert await asyncio.wait_for(reader.read(), 20) == b""  # closed by the gateway (after at most 10 s of lingering)
        writer.close()
    async with client.post(f"{gw.http}/gateway/upload/1.0/sink", data=b"y" * 5000) as resp:  # the API recovers
        assert resp.status == 200
        assert (await resp.json())["size"] == 5000


async def test_a_body_that_never_starts_times_out(gateway, upstream):
    gw = await gateway({
        "server": {"body_timeout": 1},
        "apis": [{"name": "upload", "version": "1.0", "endpoint": upstream.url}],
    })
    reader, writer = await _open_slow_post(gw.ports["http"], "upload", 50, b"")
    started = asyncio.get_running_loop().time()
    status, _headers, body = await _answer(reader)
    assert status == 408 and body["code"] == "body_timeout"
    assert "did not arrive in time" in body["message"]
    assert asyncio.get_running_loop().time() - started < 10
    writer.close()
