"""Attack: connection floods and slowloris (server.max_connections, server.header_timeout), malformed
and HTTP/0.9 requests (JSON 400 without echo), and a log that never floods."""

from __future__ import annotations

import asyncio
import json

import aiohttp

MOCK = {"apis": [{"name": "m", "version": "1", "mock": {"body": "hello"}}]}


async def _read_answer(reader: asyncio.StreamReader, timeout: float = 10) -> tuple[bytes, dict, bytes]:
    raw = await asyncio.wait_for(reader.read(65536), timeout)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return lines[0].encode(), headers, body


async def _send(port: int, data: bytes):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def test_slowloris_is_cut_at_the_header_timeout_and_the_cap_turns_away_the_rest(gateway, client):
    gw = await gateway({"server": {"max_connections": 10, "header_timeout": 1}, **MOCK})
    port = gw.ports["http"]
    started = asyncio.get_running_loop().time()
    partial = b"GET /gateway/m/1/ HTTP/1.1\r\nHost: x\r\nX-Slow: a"  # headers never finished
    slow = [await _send(port, partial) for _ in range(10)]
    # the cap is full of partial requests: a further connection is told so in JSON and closed
    refused = []
    for _ in range(30):
        reader, writer = await _send(port, b"")
        refused.append(await _read_answer(reader))
        writer.close()
    for status, headers, body in refused:
        assert status.startswith(b"HTTP/1.1 503")
        assert headers["server"] == "microgw" and json.loads(body)["code"] == "too_many_connections"
    # the slow ones end with a 408 at the header timeout (well before the 75 s idle timeout)
    for reader, writer in slow:
        status, _headers, body = await _read_answer(reader)
        assert status.startswith(b"HTTP/1.1 408") and json.loads(body)["code"] == "header_timeout"
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    assert asyncio.get_running_loop().time() - started < 15
    # a bystander is served again, and 30 refusals made at most a couple of warnings
    async with client.get(f"{gw.http}/gateway/m/1/") as resp:
        assert resp.status == 200 and await resp.text() == "hello"
    assert gw.log.count("refused a client connection") <= 2
    assert "more like it" in gw.log or gw.log.count("refused a client connection") == 1


async def test_header_timeout_counts_from_each_request_on_a_kept_alive_connection(gateway):
    """Each request's headers get the whole header_timeout from their first byte, also after earlier
    requests on the connection (whose deadline check may still be pending), and an idle spell
    longer than it between requests is no timeout (the idle timeout governs that)."""
    gw = await gateway({"server": {"header_timeout": 1}, **MOCK})
    loop = asyncio.get_running_loop()
    full = b"GET /gateway/m/1/ HTTP/1.1\r\nHost: x\r\n\r\n"
    reader, writer = await _send(gw.ports["http"], full)
    status, _headers, body = await _read_answer(reader)
    assert status.startswith(b"HTTP/1.1 200") and body == b"hello"
    await asyncio.sleep(1.3)  # idle past the header timeout: still open, still served
    writer.write(full)
    status, _headers, body = await _read_answer(reader)
    assert status.startswith(b"HTTP/1.1 200") and body == b"hello"
    await asyncio.sleep(0.6)  # the next request starts late in the previous request's header deadline
    writer.write(b"GET /gateway/m/1/ HTTP/1.1\r\nHost: x\r\nX-Slow: a")
    started = loop.time()
    status, _headers, body = await _read_answer(reader)
    waited = loop.time() - started
    assert status.startswith(b"HTTP/1.1 408") and json.loads(body)["code"] == "header_timeout"
    assert 0.9 <= waited < 5, waited  # its own full second, not what was left of an earlier one
    writer.close()


async def test_idle_connections_make_room_for_a_new_client(gateway, client):
    gw = await gateway({"server": {"max_connections": 5}, **MOCK})
    idle = [await _send(gw.ports["http"], b"") for _ in range(5)]  # connected, nothing sent
    async with client.get(f"{gw.http}/gateway/m/1/") as resp:  # the oldest idle one made room
        assert resp.status == 200
    reader, writer = idle[0]
    assert await asyncio.wait_for(reader.read(), 5) == b""  # it was closed, without an answer
    for _reader, writer in idle:
        writer.close()


async def test_connection_cap_stays_below_the_open_files_limit(gateway, client):
    gw = await gateway({"server": {"max_connections": 10_000_000}, **MOCK})
    line = await gw.wait_for_log("client connections capped at")
    assert "below the open-files limit" in line
    async with client.get(f"{gw.http}/gateway/m/1/") as resp:
        assert resp.status == 200


async def test_http09_and_malformed_requests_get_json_without_echo(gateway, client):
    gw = await gateway(MOCK)
    port = gw.ports["http"]
    for request in (b"GET /gateway/m/1/\r\n\r\n", b"GET /gateway/m/1/ HTTP/0.9\r\n\r\n"):
        reader, writer = await _send(port, request)
        status, headers, body = await _read_answer(reader)
        assert b" 400 " in status, status
        assert json.loads(body)["code"] == "bad_request" and b"hello" not in body
        assert headers["server"] == "microgw"
        writer.close()
    probe = "<script>PROBE-1234</script>"
    reader, writer = await _send(port, f"GET /gateway/m/1/ HTTP/1.1\r\nHost: x\r\nX-A: {probe}\x01\r\n\r\n".encode())
    status, headers, body = await _read_answer(reader)
    assert b" 400 " in status
    assert headers["content-type"].startswith("application/json") and headers["server"] == "microgw"
    assert b"PROBE" not in body and json.loads(body)["code"] == "bad_request"
    writer.close()
    async with client.get(f"{gw.http}/gateway/m/1/") as resp:  # the bystander
        assert resp.status == 200
    assert "PROBE-1234" not in gw.log


async def test_a_tls_handshake_that_never_finishes_is_cut_at_the_header_timeout(gateway, client, ca, tmp_path):
    import ssl

    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    gw = await gateway({"server": {"header_timeout": 1}, "key_store": {"type": "PEM", "location": "server.pem"}, **MOCK},
                       expect=("http", "https"))
    started = asyncio.get_running_loop().time()
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.ports["https"])  # TCP only: no ClientHello
    assert await asyncio.wait_for(reader.read(), 10) == b""  # the gateway gave up on the handshake
    assert asyncio.get_running_loop().time() - started < 8  # not asyncio's 60 s
    writer.close()
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with client.get(f"{gw.https}/gateway/m/1/", ssl=context) as resp:  # the bystander over TLS
        assert resp.status == 200


async def test_a_flood_past_the_open_files_limit_never_breaks_accept(tmp_path):
    """The process may open 200 files; 300 idle connections arrive. The cap (below the limit) turns
    the rest away with a JSON 503 — accept() never runs out of descriptors — and a bystander still
    gets in (the oldest idle connection makes room)."""
    import os
    import re
    import signal
    import sys

    from support.gateway import REPO, write_config

    config = write_config(tmp_path, {"server": {"upstream_connections": 16}, **MOCK})
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("mcgw_")}
    env["mcgw_state_dir"] = str(tmp_path / "state")
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", f'ulimit -n 200 && exec "{sys.executable}" -m microgw start -c "{config}" -p 0',
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, env=env, cwd=str(REPO),
    )
    lines: list[str] = []
    port = None
    while port is None:
        raw = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert raw, "\n".join(lines)
        lines.append(raw.decode(errors="replace"))
        found = re.search(r"listening on http://[^:]+:(\d+)", lines[-1])
        port = int(found.group(1)) if found else None
    opened = []
    try:
        assert any("capped at" in line and "open-files limit 200" in line for line in lines)
        for _ in range(300):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            opened.append(writer)
        # the bystander: the oldest idle connection makes room for it
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{port}/gateway/m/1/") as resp:
                assert resp.status == 200 and await resp.text() == "hello"
        for writer in opened:
            writer.close()
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = "".join(lines) + rest.decode(errors="replace")
    assert proc.returncode == 0
    assert "Too many open files" not in log and "Traceback" not in log
    assert log.count("refused a client connection") + log.count("accept") <= 3
