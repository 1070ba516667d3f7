"""A TCP relay on loopback that counts what crosses it: connections, bytes each way, requests.

Put between a child and a parent, it shows what a poll costs on the wire, as a user of the fleet
would measure it (tcpdump, a proxy's counters), without touching either side.
"""

from __future__ import annotations

import asyncio


class CountingRelay:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.connections = 0
        self.up = 0  # bytes child -> parent
        self.down = 0  # bytes parent -> child
        self.sent = bytearray()  # everything child -> parent, to count and read requests
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    def reset(self) -> None:
        self.connections = self.up = self.down = 0
        self.sent.clear()

    @property
    def requests(self) -> list[str]:
        """Request lines seen (``GET /path HTTP/1.1``), in order."""
        return [line.decode() for line in bytes(self.sent).split(b"\r\n") if line.startswith((b"GET ", b"HEAD ", b"POST "))]

    async def start(self) -> "CountingRelay":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            await asyncio.gather(self._pipe(reader, up_writer, True), self._pipe(up_reader, writer, False))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upward: bool) -> None:
        try:
            while data := await reader.read(1 << 16):
                if upward:
                    self.up += len(data)
                    self.sent += data
                else:
                    self.down += len(data)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
