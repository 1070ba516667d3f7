"""The bytes a client receives for proxied answers: short answers leave the gateway in one write
(responses.WholeAnswer), and whatever way an answer takes, its framing, its headers and the fate of
the connection are those HTTP/1.1 asks for (keep-alive, Connection: close, HTTP/1.0, HEAD, 204,
pipelining)."""

from __future__ import annotations

import asyncio



async def _answer(reader: asyncio.StreamReader, *, head_request: bool = False) -> tuple[str, dict[str, str], bytes]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = raw.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"{name} twice"
            headers[name.lower()] = value.strip()
    length = 0 if head_request else int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), 10)
    return lines[0], headers, body


async def _open(gw):
    return await asyncio.open_connection("127.0.0.1", gw.ports["http"])


def _request(path: str, method: str = "GET", version: str = "HTTP/1.1", extra: str = "") -> bytes:
    return f"{method} /gateway/w/1.0{path} {version}\r\nHost: gw\r\n{extra}\r\n".encode()


async def test_short_answers_on_a_kept_alive_connection(gateway, upstream):
    gw = await gateway({"apis": [{"name": "w", "version": "1.0", "endpoint": upstream.url}]})
    reader, writer = await _open(gw)
    ids = set()
    for _ in range(2):
        writer.write(_request("/status/201"))
        status, headers, body = await _answer(reader)
        assert status == "HTTP/1.1 201 Created" and body == b"status"
        assert headers["content-length"] == "6" and headers["content-type"] == "text/plain; charset=utf-8"
        assert headers["server"] == "microgw" and "date" in headers and "connection" not in headers
        ids.add(headers["x-request-id"])
    assert len(ids) == 2
    # pipelined: two requests in one write, two answers in order on the same connection
    writer.write(_request("/status/202") + _request("/status/203"))
    assert (await _answer(reader))[0] == "HTTP/1.1 202 Accepted"
    assert (await _answer(reader))[0] == "HTTP/1.1 203 Non-Authoritative Information"
    writer.close()


async def test_connection_close_and_http10_end_the_connection_after_the_answer(gateway, upstream):
    gw = await gateway({"apis": [{"name": "w", "version": "1.0", "endpoint": upstream.url}]})
    reader, writer = await _open(gw)
    writer.write(_request("/status/200", extra="Connection: close\r\n"))
    status, headers, body = await _answer(reader)
    assert status == "HTTP/1.1 200 OK" and body == b"status" and headers["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    reader, writer = await _open(gw)
    writer.write(_request("/status/200", version="HTTP/1.0"))
    status, headers, body = await _answer(reader)
    assert status == "HTTP/1.0 200 OK" and body == b"status" and headers["server"] == "microgw"
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_head_and_204_answers_carry_no_body_and_keep_the_framing(gateway, upstream):
    gw = await gateway({"apis": [{"name": "w", "version": "1.0", "endpoint": upstream.url}]})
    reader, writer = await _open(gw)
    writer.write(_request("/status/200", method="HEAD"))
    status, headers, body = await _answer(reader, head_request=True)
    assert status == "HTTP/1.1 200 OK" and headers["content-length"] == "6" and headers["server"] == "microgw"
    writer.write(_request("/status/204"))
    status, headers, body = await _answer(reader)
    assert status == "HTTP/1.1 204 No Content" and body == b"" and "content-length" not in headers
    writer.write(_request("/status/200"))  # the connection's framing held: the next answer is whole
    status, headers, body = await _answer(reader)
    assert status == "HTTP/1.1 200 OK" and body == b"status"
    writer.close()


async def test_the_gateways_own_answers_keep_the_connection_and_their_headers(gateway, upstream):
    gw = await gateway({"apis": [{"name": "w", "version": "1.0", "endpoint": upstream.url},
                                 {"name": "m", "version": "1.0", "mock": {"status": 202, "body": "mocked", "headers": {"X-Mock": "1"}}}]})
    reader, writer = await _open(gw)
    writer.write(b"GET /gateway/nope/1.0/x HTTP/1.1\r\nHost: gw\r\n\r\n")
    status, headers, body = await _answer(reader)
    assert status == "HTTP/1.1 404 Not Found" and headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store" and headers["server"] == "microgw" and "x-request-id" in headers
    assert b'"code":"not_found"' in body and headers["content-length"] == str(len(body))
    writer.write(b"GET /gateway/m/1.0/ HTTP/1.1\r\nHost: gw\r\n\r\n")  # the same connection, a static mock
    status, headers, body = await _answer(reader)
    assert status == "HTTP/1.1 202 Accepted" and body == b"mocked" and headers["x-mock"] == "1" and headers["server"] == "microgw"
    writer.write(_request("/status/200"))
    assert (await _answer(reader))[2] == b"status"
    writer.close()
