"""A bounded LRU of verified tokens, so a busy client's token is verified once, not per request.

Entries live until the earlier of the caller's ``expires_at`` (the token's validity end) and
``max_ttl`` seconds after insertion: the TTL bounds how long a token stays accepted after its key was
removed from a JWKS. The key is whatever the caller makes it; :class:`~microgw.tokens.validator.TokenValidator`
binds it to the token *and* every input that was checked. Not thread-safe: one event loop owns it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, Hashable, TypeVar

from microgw.config.security import DEFAULT_CACHE_ENTRIES

__all__ = ["VerifiedTokenCache"]

V = TypeVar("V")


class VerifiedTokenCache(Generic[V]):
    __slots__ = ("max_entries", "max_ttl", "_data", "hits", "misses")

    def __init__(self, max_entries: int = DEFAULT_CACHE_ENTRIES, max_ttl: float = 300.0) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if max_ttl <= 0:
            raise ValueError("max_ttl must be positive")
        self.max_entries = max_entries
        self.max_ttl = max_ttl
        self._data: OrderedDict[Hashable, tuple[V, float]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, now: float | None = None) -> V | None:
        """The cached value, or None when absent or expired (expired entries are dropped)."""
        entry = self._data.get(key)
        if entry is None:
            self.misses += 1
            return None
        if (time.time() if now is None else now) >= entry[1]:
            del self._data[key]
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, key: Hashable, value: V, expires_at: float | None, now: float | None = None) -> None:
        """Store ``value`` until ``expires_at`` (None: no own expiry) but at most ``max_ttl`` seconds."""
        limit = (time.time() if now is None else now) + self.max_ttl
        until = limit if expires_at is None or expires_at > limit else expires_at
        data = self._data
        data[key] = (value, until)
        data.move_to_end(key)
        if len(data) > self.max_entries:
            data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
