"""Raw bytes over a loopback socket: for requests no HTTP client library would send."""

from __future__ import annotations

import asyncio


async def raw_request(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data`` as it is and return the first chunk of what comes back (at most 64 KiB)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), timeout)
    writer.close()
    return answer
