"""Faults at start and stop: a sidecar whose parent hangs listens first (health answers) and syncs
after; a SIGHUP during start-up neither kills the gateway nor is lost; SIGTERM after a 413 does not
wait the whole grace period for the unread body."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time

import aiohttp

from support.gateway import REPO, write_config

HEALTH_LINE = re.compile(r"answering health probes on http://[^:]+:(\d+)")


class HungParent:
    """A parent gateway that accepts connections and never answers, until released."""

    def __init__(self) -> None:
        self.held: list[asyncio.StreamWriter] = []
        self.released = False

    async def start(self) -> "HungParent":
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.released:
            writer.close()
            return
        self.held.append(writer)

    def release(self) -> None:
        self.released = True
        for writer in self.held:
            writer.close()

    async def stop(self) -> None:
        self.release()
        self.server.close()
        await self.server.wait_closed()


async def test_a_sidecar_listens_first_and_a_sighup_during_start_is_kept(tmp_path):
    parent = await HungParent().start()
    config = write_config(tmp_path, {
        "api_gateway": {"url": parent.url, "download_settings": True},
        "apis": [{"name": "m", "version": "1", "mock": {"body": "served"}}],
    })
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("mcgw_")}
    env["mcgw_state_dir"] = str(tmp_path / "state")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "microgw", "start", "-c", str(config), "-p", "0",
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, env=env, cwd=str(REPO),
    )
    lines: list[str] = []

    async def line_matching(pattern: re.Pattern) -> re.Match:
        while True:
            raw = await proc.stderr.readline()
            assert raw, "microgw exited:\n" + "\n".join(lines)
            lines.append(raw.decode(errors="replace").rstrip())
            found = pattern.search(lines[-1])
            if found:
                return found

    try:
        port = int((await asyncio.wait_for(line_matching(HEALTH_LINE), 20)).group(1))
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as client:
            async with client.get(f"{base}/rest/microgateway/health") as resp:  # the probe: alive
                assert resp.status == 200
            async with client.get(f"{base}/rest/microgateway/ready") as resp:
                assert resp.status == 503 and (await resp.json())["code"] == "starting"
            async with client.get(f"{base}/gateway/m/1/") as resp:
                assert resp.status == 503 and resp.headers["Retry-After"] == "1"
            proc.send_signal(signal.SIGHUP)  # an operator reloads while the parent still hangs
            async with client.get(f"{base}/rest/microgateway/health") as resp:
                assert resp.status == 200  # not killed
            parent.release()  # the parent goes away for good: the sidecar starts on its YAML
            await asyncio.wait_for(line_matching(re.compile("reloading: SIGHUP arrived during start-up")), 30)
            await asyncio.wait_for(line_matching(re.compile("settings applied")), 30)
            async with client.get(f"{base}/gateway/m/1/") as resp:
                assert resp.status == 200 and await resp.text() == "served"
    finally:
        await parent.stop()
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0


async def test_sigterm_after_a_413_does_not_wait_for_the_unread_body(gateway, upstream):
    gw = await gateway({"server": {"shutdown_grace": 20, "max_body_size": "1k"},
                        "apis": [{"name": "up", "version": "1", "endpoint": f"{upstream.url}/sink"}]})
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.ports["http"])
    writer.write(b"POST /gateway/up/1/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(1000), 10)
    assert answer.startswith(b"HTTP/1.1 413") and b"body_too_large" in answer
    started = time.monotonic()
    assert await gw.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 5  # not the 20 s grace
    writer.close()
