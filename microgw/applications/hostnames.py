"""Client address -> host name, for the ``hostNameAddress`` identification type."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict


class ReverseDns:
    """Client address -> host name, asynchronously, cached (bounded, 5 minutes), 1 s timeout.

    The name counts only when it resolves back to the same address (forward-confirmed), since
    whoever controls the reverse zone of an address can otherwise claim any name.
    """

    def __init__(self, size: int = 4096, ttl: float = 300.0) -> None:
        self._cache: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._size = size
        self._ttl = ttl

    async def name(self, address: str) -> str | None:
        now = time.monotonic()
        hit = self._cache.get(address)
        if hit and hit[1] > now:
            return hit[0]
        loop = asyncio.get_running_loop()
        try:
            host, _ = await asyncio.wait_for(loop.getnameinfo((address, 0), socket.NI_NAMEREQD), timeout=1.0)
            forward = await asyncio.wait_for(loop.getaddrinfo(host, None), timeout=1.0)
            if address not in {info[4][0] for info in forward}:
                host = None
        except (OSError, asyncio.TimeoutError, ValueError):
            host = None
        self._cache[address] = (host, now + self._ttl)
        self._cache.move_to_end(address)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return host
