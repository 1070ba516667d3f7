"""End to end: what a hostile or careless client can try, and what the gateway answers."""

from __future__ import annotations

import asyncio
import time

from yarl import URL

from support.gateway import write_config
from support.raw import raw_request


def api(name: str, endpoint: str, **extra) -> dict:
    return {"name": name, "version": "1.0", "endpoint": endpoint, **extra}


async def test_encoded_traversal_is_refused(gateway, upstream, client):
    gw = await gateway({"apis": [api("pets", f"{upstream.url}/echo/public")]})
    for path in ("..%2f..%2fadmin", "%2e%2e%2fadmin", "..%5cadmin", "..;/..;/admin", "%252e%252e/admin", "a/.%2e/b"):
        async with client.get(URL(f"{gw.http}/gateway/pets/1.0/{path}", encoded=True)) as resp:  # sent as written
            assert resp.status == 400, path
            assert (await resp.json())["code"] == "invalid_path"
    async with client.get(f"{gw.http}/gateway/pets/1.0/files/a%2Fb.json") as resp:
        assert resp.status == 200  # an encoded slash inside a name is fine
    assert [r["path_qs"] for r in upstream.received] == ["/echo/public/files/a%2Fb.json"]


async def test_underscore_and_override_headers_never_reach_upstream(gateway, upstream, client):
    gw = await gateway({"apis": [api("pets", f"{upstream.url}/echo")]})
    headers = {"X_User": "admin", "X-Original-URL": "/admin", "X-Real-IP": "10.0.0.1", "X-Kept": "yes"}
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers=headers) as resp:
        seen = (await resp.json())["headers"]
    assert "x_user" not in seen and "x-original-url" not in seen
    assert seen["x-real-ip"] == "127.0.0.1" and seen["x-kept"] == "yes"


async def test_malformed_headers_never_leak_into_the_log(gateway):
    gw = await gateway({"apis": [{"name": "m", "version": "1", "mock": {}}]})
    secret = "eyJSECRETTOKEN"
    answer = await raw_request(gw.ports["http"], f"GET /gateway/m/1/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}.x\x01y\r\n\r\n".encode())
    assert answer.split(b"\r\n", 1)[0].endswith(b"400 Bad Request")
    long_header = "A" * 9000
    answer = await raw_request(gw.ports["http"], f"GET /gateway/m/1/ HTTP/1.1\r\nHost: x\r\nX-Big: {secret}{long_header}\r\n\r\n".encode())
    assert answer.split(b" ", 2)[1].startswith(b"4")
    await gw.wait_for_log("refused a malformed request")
    assert secret not in gw.log
    assert "Traceback" not in gw.log


async def test_log_lines_cannot_be_forged(gateway, client):
    gw = await gateway({"apis": [{"name": "m", "version": "1", "mock": {}}]})
    async with client.get(f"{gw.http}/gateway/m/1/x%0a10.9.9.9%20%22GET%20/forged%22%20200") as resp:
        assert resp.status == 200
    line = await gw.wait_for_log(r"/gateway/m/1/x")
    assert "%0a" in line.lower()
    assert not any(l.startswith("10.9.9.9") for l in gw.lines)


async def test_head_keeps_content_length_and_absolute_form_targets_route(gateway, upstream, client):
    gw = await gateway({"apis": [api("pets", f"{upstream.url}/echo")]})
    async with client.head(f"{gw.http}/gateway/pets/1.0/x") as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) > 0
    answer = await raw_request(gw.ports["http"], f"GET http://127.0.0.1:{gw.ports['http']}/gateway/pets/1.0/dogs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 200")
    assert upstream.received[-1]["path_qs"] == "/echo/dogs"


async def test_endpoint_query_string_is_kept(gateway, upstream, client):
    gw = await gateway({"apis": [api("pets", f"{upstream.url}/echo/api?version=2")]})
    async with client.get(f"{gw.http}/gateway/pets/1.0/dogs/1?a=b") as resp:
        assert (await resp.json())["path_qs"] == "/echo/api/dogs/1?version=2&a=b"


async def test_echo_reads_whole_chunked_bodies_and_limits_them(gateway, client):
    gw = await gateway({"apis": [{"name": "e", "version": "1", "mock": {"echo": True}}]})

    async def chunks(count: int):
        for _ in range(count):
            yield b"x" * 65536

    async with client.post(f"{gw.http}/gateway/e/1/", data=chunks(4)) as resp:
        assert resp.status == 200
        assert len((await resp.json())["body"]) == 4 * 65536
    async with client.post(f"{gw.http}/gateway/e/1/", data=chunks(40)) as resp:
        assert resp.status == 413


async def test_a_full_pool_answers_within_the_connect_timeout(gateway, upstream, client):
    gw = await gateway(
        {
            "server": {"upstream_connections": 2, "upstream_connections_per_api": 2},  # one API may take all
            "apis": [api("slow", upstream.url), api("fast", upstream.url, timeouts={"connect": 0.5, "read": 5})],
        }
    )
    busy = [asyncio.ensure_future(client.get(f"{gw.http}/gateway/slow/1.0/slow?delay=4")) for _ in range(2)]
    while len(upstream.received) < 2:
        await asyncio.sleep(0.02)
    started = time.monotonic()
    async with client.get(f"{gw.http}/gateway/fast/1.0/status/200") as resp:
        assert resp.status == 504
    assert time.monotonic() - started < 2.5
    for request in busy:
        (await request).release()


async def test_suspended_default_application_is_refused(gateway, client, tmp_path):
    config = {
        "applications": [{"id": "anon", "name": "Anonymous", "suspended": True}],
        "apis": [{"name": "r", "version": "1", "mock": {}, "policies": {"identify": {"rules": ["apiKey"], "lookup": "relax", "default_application": "anon"}}}],
    }
    gw = await gateway(write_config(tmp_path, config, "relax.yml"))
    async with client.get(f"{gw.http}/gateway/r/1/") as resp:
        assert resp.status == 403


async def test_http_details(gateway, upstream, client):
    gw = await gateway({"apis": [api("pets", f"{upstream.url}/sink", policies={"jwt": {}})], "issuer": {"issuer": "t"}})
    # a wrong method on a built-in endpoint is 405 with Allow, as JSON
    async with client.post(f"{gw.http}/rest/microgateway/status") as resp:
        assert resp.status == 405 and resp.headers["Allow"] == "GET, HEAD"
        assert (await resp.json())["code"] == "method_not_allowed"
    # an empty bearer token is a malformed request (RFC 6750 §3.1)
    async with client.get(f"{gw.http}/gateway/pets/1.0/", headers={"Authorization": "Bearer "}) as resp:
        assert resp.status == 400
        assert 'error="invalid_request"' in resp.headers["WWW-Authenticate"]
    # Expect: 100-continue is not granted to a request the policies refuse
    answer = await raw_request(
        gw.ports["http"],
        b"POST /gateway/pets/1.0/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer[:40]
    assert upstream.received == []


async def test_expect_100_continue_is_granted_after_the_policies(gateway, upstream):
    gw = await gateway({"apis": [api("files", f"{upstream.url}/sink")]})
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.ports["http"])
    writer.write(b"POST /gateway/files/1.0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert interim.startswith(b"HTTP/1.1 100 Continue")
    writer.write(b"hello")
    answer = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200") and b'"size":5' in answer.replace(b" ", b"")
