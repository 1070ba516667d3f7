"""The lean upstream client against real loopback servers: what the gateway relies on.

Raw asyncio servers on port 0 so each test controls the bytes on the wire (keep-alive, closes,
informational answers, HEAD, chunking).
"""

from __future__ import annotations

import asyncio

import pytest

from microgw.http_client import UpstreamError, UpstreamPool, split_target, split_url


class RawServer:
    """Answers each request with ``answer(request_bytes) -> bytes``; counts connections."""

    def __init__(self, answer, *, close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []

    async def start(self) -> "RawServer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = b""
                if b"transfer-encoding: chunked" in head.lower():
                    while True:
                        size = int((await reader.readline()).strip(), 16)
                        chunk = await reader.readexactly(size + 2)
                        if size == 0:
                            break
                        body += chunk[:-2]
                else:
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            body = await reader.readexactly(int(line.split(b":")[1]))
                self.requests.append(head + body)
                writer.write(self.answer(head + body))
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


def ok(body: bytes = b"hello", extra: bytes = b"") -> callable:
    return lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_sequential_requests_reuse_one_connection():
    server = await RawServer(ok()).start()
    pool = UpstreamPool(8)
    try:
        for _ in range(5):
            response = await pool.request("GET", server.url + "/a?b=1", [("X-Test", "1")])
            assert response.status == 200
            assert await response.read() == b"hello"
            response.release()
        assert server.connections == 1
        assert server.requests[0].startswith(b"GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nX-Test: 1\r\n" in server.requests[0]
    finally:
        await pool.close()
        await server.stop()


async def test_server_closing_idle_connection_is_retried_for_a_get():
    server = await RawServer(ok(), close_after=True).start()
    pool = UpstreamPool(8)
    try:
        for _ in range(3):  # the pooled connection was closed by the server each time
            response = await pool.request("GET", server.url + "/", [])
            assert await response.read() == b"hello"
            response.release()
            await asyncio.sleep(0.01)
        assert server.connections == 3
    finally:
        await pool.close()
        await server.stop()


async def test_chunked_upload_and_informational_answer_skipped():
    answer = lambda request: b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"

    async def body():
        yield b"abc"
        yield b"defg"

    server = await RawServer(answer).start()
    pool = UpstreamPool(8)
    try:
        response = await pool.request("POST", server.url + "/up", [], body())
        assert response.status == 201
        assert [h for h in response.headers if h[0] == "Link"] == []
        assert await response.read() == b"ok"
        response.release()
        assert server.requests[0].endswith(b"abcdefg")
        assert b"Transfer-Encoding: chunked" in server.requests[0]
    finally:
        await pool.close()
        await server.stop()


async def test_head_answer_has_no_body_and_its_connection_is_not_reused():
    server = await RawServer(lambda r: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + (b"" if r.startswith(b"HEAD") else b"hello")).start()
    pool = UpstreamPool(8)
    try:
        response = await pool.request("HEAD", server.url + "/", [])
        assert response.content_length == 5
        assert await response.read() == b""
        response.release()
        response = await pool.request("GET", server.url + "/", [])
        assert await response.read() == b"hello"
        response.release()
        assert server.connections == 2
    finally:
        await pool.close()
        await server.stop()


async def test_silent_server_times_out_and_full_pool_waits_no_longer_than_connect_timeout():
    server = await RawServer(lambda r: b"").start()  # never answers
    pool = UpstreamPool(1)
    try:
        with pytest.raises(TimeoutError):
            await pool.request("GET", server.url + "/", [], read_timeout=0.2)
        first = asyncio.ensure_future(pool.request("GET", server.url + "/", [], read_timeout=5))
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):  # the only connection is busy: no slot within 0.2 s
            await pool.request("GET", server.url + "/", [], connect_timeout=0.2)
        first.cancel()
    finally:
        await pool.close()
        await server.stop()


def answers_then_silence(count: int):
    """Answers the first ``count`` requests, then never again (same connection)."""
    seen = []

    def answer(request: bytes) -> bytes:
        seen.append(request)
        return ok()(request) if len(seen) <= count else b""

    return answer


async def test_read_timeout_fires_on_a_reused_connection_also_when_shorter_than_before():
    """The read-timeout check stays pending between requests of a kept-alive connection: a later
    request is still timed out, after its own (shorter or longer) timeout and not sooner."""
    server = await RawServer(answers_then_silence(2)).start()
    pool = UpstreamPool(1)
    loop = asyncio.get_running_loop()
    try:
        for read_timeout in (30.0, 0.3):  # answered; the 30 s check is left pending
            response = await pool.request("GET", server.url + "/", [], read_timeout=read_timeout)
            assert await response.read() == b"hello"
            response.release()
        started = loop.time()
        with pytest.raises(TimeoutError):  # shorter than the pending 30 s check: armed anew
            await asyncio.wait_for(pool.request("GET", server.url + "/", [], read_timeout=0.2), 5)
        assert 0.15 <= loop.time() - started < 2
        assert server.connections == 1
    finally:
        await pool.close()
        await server.stop()


async def test_read_timeout_runs_from_the_request_not_from_an_earlier_one():
    """A check left pending by an earlier request that fires during a later one waits for the later
    one's own deadline; an idle pooled connection is not closed by it."""
    server = await RawServer(answers_then_silence(1)).start()
    pool = UpstreamPool(1)
    loop = asyncio.get_running_loop()
    try:
        response = await pool.request("GET", server.url + "/", [], read_timeout=0.3)
        assert await response.read() == b"hello"
        response.release()
        await asyncio.sleep(0.2)  # the check of the first request fires 0.1 s into the next one
        started = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.request("GET", server.url + "/", [], read_timeout=0.3), 5)
        assert 0.25 <= loop.time() - started < 2
        assert server.connections == 1  # the idle connection was reused, not closed by the check
    finally:
        await pool.close()
        await server.stop()


async def test_read_timeout_is_between_reads_so_a_slow_steady_answer_completes():
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        for byte in b"hello":
            await asyncio.sleep(0.1)
            writer.write(bytes([byte]))
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    pool = UpstreamPool(1)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        response = await pool.request("GET", url, [], read_timeout=0.3)  # 0.5 s in all, 0.1 s apart
        assert await response.read() == b"hello"
        response.release()
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()


async def test_refused_and_garbage_answers_are_upstream_errors():
    server = await RawServer(lambda r: b"NOT HTTP AT ALL\r\n\r\n").start()
    pool = UpstreamPool(8)
    try:
        with pytest.raises(UpstreamError):
            await pool.request("GET", server.url + "/", [])
        port = server.server.sockets[0].getsockname()[1]
        await server.stop()
        with pytest.raises(UpstreamError):
            await pool.request("GET", f"http://127.0.0.1:{port}/", [])
        with pytest.raises(ValueError):  # a header value may not smuggle a second header
            await pool.request("GET", f"http://127.0.0.1:{port}/", [("X-A", "1\r\nX-B: 2")])
    finally:
        await pool.close()


def test_url_splitting():
    assert split_target("http://h:8080/a/b?c") == ("http://h:8080", "/a/b?c")
    assert split_target("http://h?q=1") == ("http://h", "/?q=1")
    assert split_url("http://h:80") == ("http", "h", 80, "h")
    assert split_url("https://[::1]:8443") == ("https", "::1", 8443, "[::1]:8443")
    with pytest.raises(ValueError):
        split_url("http://user:pw@h")
