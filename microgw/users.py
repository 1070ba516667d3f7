"""Gateway users: who may ask for a token or be named by an application's ``basic_users``.

Password checks are the expensive part of Basic auth (scrypt: ~130 ms and 32 MiB each), so:

* hashed checks run in an executor, at most ``concurrency`` at once, and a burst beyond
  ``max_waiting`` queued checks is answered 503 at once instead of growing an unbounded queue;
* unknown user names cost the same as known ones, so response times do not reveal which exist;
* a small cache remembers recent successes for ``cache_ttl`` seconds, so a client sending Basic
  auth on every API call pays scrypt once, not per request. Its keys are an HMAC (random key per
  directory) of name, password and stored value: a changed password or hash never hits an old entry,
  and the cache holds no password. Failures are never cached.

A flood of wrong credentials must not lock a real user out of their first login, so checks are
shared fairly (:class:`FairGate`):

* slots go round-robin to the clients (addresses) waiting, so one client's hundred queued guesses
  delay another client by one check, not a hundred; one client may have at most ``per_client``
  checks waiting (429 beyond);
* checks of unknown names (which only burn CPU) may fill at most ``unknown_share`` of the queue
  (503 beyond), so a dictionary of made-up names cannot crowd out real users;
* after ``backoff_after`` failures for one user *from one client*, that client waits 1, 2, 4 ... up
  to ``backoff_max`` seconds between attempts for that user (429 with Retry-After, no check run); the
  same user from any other client is not slowed. A success clears it.

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
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping

from microgw.config.password_hashes import is_hashed
from microgw.errors import GatewayError
from microgw.keys import passwords

log = logging.getLogger("microgw.users")

FAILURES_KEPT = 10_000  # (user, client) pairs remembered for backoff; the oldest are forgotten


class FairGate:
    """``slots`` concurrent holders; waiting clients are served round-robin, each in its own order."""

    __slots__ = ("_free", "_queues")

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._queues: OrderedDict[str, deque[asyncio.Future]] = OrderedDict()

    async def acquire(self, client: str) -> None:
        if self._free > 0 and not self._queues:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._queues.setdefault(client, deque()).append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot handed to us goes to the next in line
            else:
                queue = self._queues.get(client)
                if queue is not None and waiter in queue:
                    queue.remove(waiter)
                    if not queue:
                        del self._queues[client]
            raise

    def release(self) -> None:
        while self._queues:
            client, queue = next(iter(self._queues.items()))
            waiter = queue.popleft()
            if queue:
                self._queues.move_to_end(client)  # this client's next check waits for the others' turns
            else:
                del self._queues[client]
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class UserDirectory:
    """Immutable name -> stored password map with asynchronous, bounded, timing-safe checks."""

    __slots__ = ("_users", "_any_hashed", "_limit", "_waiting", "_max_waiting", "_cache", "_cache_size", "_ttl", "_cache_key",
                 "_per_client", "_client_waiting", "_unknown_waiting", "_max_unknown", "_failures", "_backoff_after", "_backoff_max")

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        concurrency: int = 2,
        max_waiting: int = 256,
        cache_size: int = 1024,
        cache_ttl: float = 300.0,
        warn_plain: bool = True,
        per_client: int = 4,
        unknown_share: float = 0.25,
        backoff_after: int = 5,
        backoff_max: float = 60.0,
    ) -> None:
        self._users = dict(users)
        self._any_hashed = any(is_hashed(stored) for stored in self._users.values())
        self._limit = FairGate(concurrency)
        self._waiting = 0
        self._max_waiting = max_waiting
        self._per_client = per_client
        self._client_waiting: dict[str, int] = {}
        self._unknown_waiting = 0
        self._max_unknown = max(1, int(max_waiting * unknown_share))
        self._failures: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()  # (name, client) -> (count, not before)
        self._backoff_after = backoff_after
        self._backoff_max = backoff_max
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

    async def verify(self, name: str, password: str, client: str = "") -> bool:
        """True when ``password`` is the password of user ``name``; same cost for unknown names.

        ``client`` (the caller's address) is what fairness and backoff are counted by. Raises a 429
        :class:`GatewayError` when this client must wait before trying this user again or has too
        many checks waiting, a 503 when too many checks are waiting in all.
        """
        self._check_backoff(name, client)
        stored = self._users.get(name)
        if stored is not None and not is_hashed(stored):
            ok = passwords.verify_plain(password, stored)
        elif stored is None and not self._any_hashed:
            passwords.verify_plain(password, "")  # only plain users: an unknown name costs what they cost
            ok = False
        else:
            key = self._key(name, password, stored) if stored is not None else None
            if key is not None and self._cached(key):
                return True
            ok = await self._slow_check(password, stored, client) and stored is not None
            if ok and key is not None:
                self._remember(key)
        self._count(name, client, ok)
        return ok

    # --- fairness and backoff -------------------------------------------------------------------

    def _check_backoff(self, name: str, client: str) -> None:
        entry = self._failures.get((name, client))
        if entry is None:
            return
        wait = entry[1] - time.monotonic()
        if wait > 0:
            raise GatewayError(
                429, "too_many_attempts", "Too many failed attempts for this user from this client; retry later",
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )

    def _count(self, name: str, client: str, ok: bool) -> None:
        key = (name, client)
        if ok:
            self._failures.pop(key, None)
            return
        count = self._failures.get(key, (0, 0.0))[0] + 1
        delay = 0.0
        if count >= self._backoff_after:
            delay = min(self._backoff_max, 2.0 ** (count - self._backoff_after))
        self._failures[key] = (count, time.monotonic() + delay)
        self._failures.move_to_end(key)
        while len(self._failures) > FAILURES_KEPT:
            self._failures.popitem(last=False)

    async def _slow_check(self, password: str, stored: str | None, client: str = "") -> bool:
        if self._waiting >= self._max_waiting:
            raise GatewayError(503, "busy", "Too many password checks in progress; retry shortly", headers={"Retry-After": "1"})
        if self._client_waiting.get(client, 0) >= self._per_client:
            raise GatewayError(429, "too_many_checks", "Too many password checks from this client at once; retry shortly", headers={"Retry-After": "1"})
        if stored is None and self._unknown_waiting >= self._max_unknown:
            raise GatewayError(503, "busy", "Too many password checks in progress; retry shortly", headers={"Retry-After": "1"})
        self._waiting += 1
        self._client_waiting[client] = self._client_waiting.get(client, 0) + 1
        if stored is None:
            self._unknown_waiting += 1
        try:
            await self._limit.acquire(client)
            try:
                if stored is None:
                    return await asyncio.to_thread(passwords.dummy_verify, password)
                return await passwords.verify_password_async(password, stored)
            finally:
                self._limit.release()
        finally:
            self._waiting -= 1
            left = self._client_waiting[client] - 1
            if left:
                self._client_waiting[client] = left
            else:
                del self._client_waiting[client]
            if stored is None:
                self._unknown_waiting -= 1

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
