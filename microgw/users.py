"""Gateway users: who may ask for a token or be named by an application's ``basic_users``.

Password checks are the expensive part of Basic auth (scrypt: ~130 ms and 32 MiB each), so:

* hashed checks run in an executor, at most ``concurrency`` at once, and a burst beyond
  ``max_waiting`` queued checks is answered 503 at once instead of growing an unbounded queue;
* unknown user names cost the same as known ones, so response times do not reveal which exist;
* a small cache remembers recent successes for ``cache_ttl`` seconds, so a client sending Basic
  auth on every API call pays scrypt once, not per request. Its keys are an HMAC (random key per
  directory) of name, password and stored value: a changed password or hash never hits an old entry,
  and the cache holds no password. Failures are never cached.

Plain passwords (decoded from ``{encoded}``) are compared in constant time and are meant for trying
things out only; a warning says so once per user when the directory is built.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from microgw.config.password_hashes import is_hashed
from microgw.errors import GatewayError
from microgw.keys import passwords

log = logging.getLogger("microgw.users")


class UserDirectory:
    """Immutable name -> stored password map with asynchronous, bounded, timing-safe checks."""

    __slots__ = ("_users", "_any_hashed", "_limit", "_waiting", "_max_waiting", "_cache", "_cache_size", "_ttl", "_cache_key")

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        concurrency: int = 2,
        max_waiting: int = 256,
        cache_size: int = 1024,
        cache_ttl: float = 300.0,
        warn_plain: bool = True,
    ) -> None:
        self._users = dict(users)
        self._any_hashed = any(is_hashed(stored) for stored in self._users.values())
        self._limit = asyncio.Semaphore(concurrency)  # binds to a loop on first use (3.10+)
        self._waiting = 0
        self._max_waiting = max_waiting
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        self._cache_size = cache_size
        self._ttl = cache_ttl
        self._cache_key = secrets.token_bytes(32)
        if warn_plain:
            for name, stored in self._users.items():
                if not is_hashed(stored):
                    log.warning("user %r has a plain-text password: for trying only; store a hash from `microgw hash-password`", name)

    def names(self) -> Iterable[str]:
        return self._users.keys()

    def __contains__(self, name: object) -> bool:
        return name in self._users

    def __len__(self) -> int:
        return len(self._users)

    def __repr__(self) -> str:
        return f"UserDirectory({sorted(self._users)!r})"  # never the stored values

    async def verify(self, name: str, password: str) -> bool:
        """True when ``password`` is the password of user ``name``; same cost for unknown names.

        Raises a 503 :class:`GatewayError` when too many checks are already waiting.
        """
        stored = self._users.get(name)
        if stored is not None and not is_hashed(stored):
            return passwords.verify_plain(password, stored)
        if stored is None and not self._any_hashed:
            passwords.verify_plain(password, "")  # only plain users: an unknown name costs what they cost
            return False
        key = self._key(name, password, stored) if stored is not None else None
        if key is not None and self._cached(key):
            return True
        ok = await self._slow_check(password, stored)
        if ok and key is not None:
            self._remember(key)
        return ok and stored is not None

    async def _slow_check(self, password: str, stored: str | None) -> bool:
        if self._waiting >= self._max_waiting:
            raise GatewayError(503, "busy", "Too many password checks in progress; retry shortly", headers={"Retry-After": "1"})
        self._waiting += 1
        try:
            async with self._limit:
                if stored is None:
                    return await asyncio.to_thread(passwords.dummy_verify, password)
                return await passwords.verify_password_async(password, stored)
        finally:
            self._waiting -= 1

    # --- success cache ------------------------------------------------------------------------

    def _key(self, name: str, password: str, stored: str) -> bytes:
        mac = hmac.new(self._cache_key, digestmod=hashlib.sha256)
        for part in (name, password, stored):
            data = part.encode("utf-8", "surrogatepass")
            mac.update(len(data).to_bytes(8, "big"))  # length-prefixed: ("ab","c") != ("a","bc")
            mac.update(data)
        return mac.digest()

    def _cached(self, key: bytes) -> bool:
        expires = self._cache.get(key)
        if expires is None:
            return False
        if expires <= time.monotonic():
            del self._cache[key]
            return False
        return True

    def _remember(self, key: bytes) -> None:
        if self._cache_size <= 0 or self._ttl <= 0:
            return
        self._cache[key] = time.monotonic() + self._ttl
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
