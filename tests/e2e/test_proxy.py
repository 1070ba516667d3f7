"""End to end: microgw as a real process in front of a real aiohttp upstream."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

import aiohttp
import pytest


def api(name: str, endpoint: str, **extra) -> dict:
    return {"name": name, "version": "1.0", "endpoint": endpoint, **extra}


async def test_routes_resource_and_query_to_base_url(gateway, upstream, client):
    gw = await gateway({"apis": [api("pets", f"{upstream.url}/echo/base")]})
    async with client.get(f"{gw.http}/gateway/pets/1.0/dogs/1?color=brown&x=%20y") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["path_qs"] == "/echo/base/dogs/1?color=brown&x=%20y"
    assert body["method"] == "GET"


async def test_resource_path_placeholder(gateway, upstream, client):
    gw = await gateway({"apis": [api("pets", upstream.url + "/echo/v2/${sys:resource_path}/end")]})
    async with client.post(f"{gw.http}/gateway/pets/1.0/cats?q=1", data=b"hello") as resp:
        body = await resp.json()
    assert body["path_qs"] == "/echo/v2/cats/end?q=1"
    assert body["body"] == "hello"
    assert body["method"] == "POST"


async def test_dot_segments_are_refused(gateway, upstream, client):
    gw = await gateway({"apis": [api("pets", f"{upstream.url}/echo/base")]})
    for path in ("/gateway/pets/1.0/a/../../secret", "/gateway/pets/1.0/%2e%2e/secret"):
        async with client.get(gw.http + path) as resp:
            assert resp.status in (400, 404), path
            assert (await resp.json())["code"] in ("invalid_path", "not_found")
    assert upstream.received == []


async def test_header_hygiene(gateway, upstream, client):
    gw = await gateway({"apis": [api("pets", f"{upstream.url}/echo")]})
    headers = {
        "Connection": "keep-alive, X-Secret-Hop",
        "X-Secret-Hop": "must not pass",
        "Proxy-Authorization": "Basic abc",
        "TE": "trailers",
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Custom": "kept",
    }
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=headers) as resp:
        body = await resp.json()
        assert resp.headers.get("X-Upstream") == "yes"
        assert "X-Hop" not in resp.headers  # listed in the upstream's Connection header
    seen = body["headers"]
    assert seen["x-custom"] == "kept"
    for gone in ("x-secret-hop", "proxy-authorization", "te"):
        assert gone not in seen
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{gw.ports['http']}"
    assert seen["host"] == f"127.0.0.1:{upstream.port}"


async def test_large_chunked_upload_is_streamed(gateway, upstream, client):
    gw = await gateway({"apis": [api("files", f"{upstream.url}/sink")]})
    size = 256 * 1024 * 1024
    digest = hashlib.sha256()

    async def body():
        block = os.urandom(1 << 20)
        for _ in range(size >> 20):
            digest.update(block)
            yield block

    async with client.post(f"{gw.http}/gateway/files/1.0", data=body()) as resp:
        assert resp.status == 200
        result = await resp.json()
    assert result["size"] == size
    assert result["sha256"] == digest.hexdigest()
    assert result["chunked"] == "chunked"
    # Streaming keeps the gateway's peak memory far below the body size.
    peak_kib = _peak_rss_kib(gw.proc.pid)
    print("peak RSS KiB", peak_kib)
    assert peak_kib < 128 * 1024, f"gateway peak RSS {peak_kib} KiB suggests buffering"


async def test_content_length_upload_keeps_length(gateway, upstream, client):
    gw = await gateway({"apis": [api("files", f"{upstream.url}/sink")]})
    data = os.urandom(3 * 1024 * 1024 + 7)
    async with client.post(f"{gw.http}/gateway/files/1.0", data=data) as resp:
        result = await resp.json()
    assert result == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "chunked": None}


async def test_large_streamed_download(gateway, upstream, client):
    gw = await gateway({"apis": [api("files", f"{upstream.url}")]})
    size = 256 * 1024 * 1024
    received = 0
    async with client.get(f"{gw.http}/gateway/files/1.0/stream?size={size}") as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_chunked(1 << 20):
            received += len(chunk)
    assert received == size
    assert _peak_rss_kib(gw.proc.pid) < 128 * 1024


async def test_body_limit(gateway, upstream, client):
    gw = await gateway({"server": {"max_body_size": "1k"}, "apis": [api("files", f"{upstream.url}/sink")]})
    async with client.post(f"{gw.http}/gateway/files/1.0", data=b"x" * 2048) as resp:
        assert resp.status == 413
        assert (await resp.json())["code"] == "body_too_large"

    async def chunked():
        for _ in range(4):
            yield b"y" * 1024

    async with client.post(f"{gw.http}/gateway/files/1.0", data=chunked()) as resp:
        assert resp.status == 413


async def test_upstream_refused_is_502(gateway, client):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gw = await gateway({"apis": [api("down", f"http://127.0.0.1:{port}/")]})
    async with client.get(f"{gw.http}/gateway/down/1.0/x") as resp:
        assert resp.status == 502
        body = await resp.json()
    assert body["code"] == "upstream_unavailable"
    assert "Exception" in body and str(port) not in json.dumps(body)


async def test_upstream_reset_is_502(gateway, upstream, client):
    gw = await gateway({"apis": [api("flaky", upstream.url)]})
    async with client.get(f"{gw.http}/gateway/flaky/1.0/reset") as resp:
        assert resp.status == 502


async def test_upstream_timeout_is_504(gateway, upstream, client):
    gw = await gateway({"apis": [api("slow", upstream.url, timeouts={"read": 0.3})]})
    async with client.get(f"{gw.http}/gateway/slow/1.0/slow?delay=3") as resp:
        assert resp.status == 504
        assert (await resp.json())["code"] == "upstream_timeout"


async def test_unknown_api_404_and_upstream_status_passes(gateway, upstream, client):
    gw = await gateway({"apis": [api("pets", upstream.url)]})
    async with client.get(f"{gw.http}/gateway/cats/1.0/x") as resp:
        assert resp.status == 404
        assert resp.content_type == "application/json"
    async with client.get(f"{gw.http}/gateway/pets/2.0/x") as resp:
        assert resp.status == 404
    async with client.get(f"{gw.http}/elsewhere") as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == "not_found"
    async with client.get(f"{gw.http}/gateway/pets/1.0/status/418") as resp:
        assert resp.status == 418  # the native service's own answer is relayed untouched


async def test_methods_and_protocols(gateway, upstream, client):
    gw = await gateway(
        {
            "apis": [
                api("ro", f"{upstream.url}/echo", methods=["GET"]),
                api("secure", f"{upstream.url}/echo", protocols=["https"]),
            ]
        }
    )
    async with client.delete(f"{gw.http}/gateway/ro/1.0/x") as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET"
    async with client.get(f"{gw.http}/gateway/secure/1.0/x") as resp:
        assert resp.status == 403
        assert (await resp.json())["code"] == "protocol_not_allowed"
    assert len(upstream.received) == 0


async def test_graceful_shutdown_completes_in_flight_request(gateway, upstream, client):
    gw = await gateway({"server": {"shutdown_grace": 10}, "apis": [api("slow", upstream.url)]})
    pending = asyncio.ensure_future(client.get(f"{gw.http}/gateway/slow/1.0/slow?delay=1"))
    while not upstream.received:  # the request reached the native service
        await asyncio.sleep(0.01)
    gw.proc.terminate()
    async with await pending as resp:
        assert resp.status == 200
        assert await resp.json() == {"slept": True}
    # wait for the exit the one SIGTERM asked for (a second signal sent while the loop closes would kill it)
    assert await asyncio.wait_for(gw.proc.wait(), 30) == 0
    await gw.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.get(f"{gw.http}/gateway/slow/1.0/slow?delay=0"):
            pass


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")
