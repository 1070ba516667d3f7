"""A JWKS fetched from an identity provider's URL, kept fresh in the background.

Behaviour, and why:

* :meth:`RemoteJwksSource.start` returns at once; a background task fetches now, then every
  ``refresh_interval`` seconds (minus up to 10 % jitter so many gateways don't hit the IdP in step).
  Failed fetches are retried with exponential backoff from ``retry_initial`` up to
  ``min(retry_max, refresh_interval)``. The gateway never waits for the IdP to start serving.
* A failed fetch (connection error, timeout, HTTP status other than 200, body over ``max_bytes``,
  not a JWK Set, or a set with no usable key) keeps the last good keys.
* Key rotation: a token naming an unknown ``kid`` may trigger a fetch through
  :meth:`refresh_for_unknown_kid` — joined with any fetch already in flight (single-flight), and at
  most one such on-demand fetch per ``unknown_kid_cooldown`` seconds, so random kids cannot make us
  hammer the IdP.
* The URL comes only from configuration; ``jku``/``x5u`` headers are never followed. Redirects are
  followed by hand (at most ``max_redirects``), only to the configured URL's own host (scheme and
  port may change, to https only once TLS was asked for): the keys decide who gets in, so they must
  come from whom the configuration names, never over plain HTTP once TLS was asked for.
* Reads the key list through one immutable :class:`~microgw.keys.static.KeyIndex` swapped in one
  assignment, so request handling never sees a half-updated set.
* Status for readiness and metrics: ``ready``, ``last_error`` (short, no URL query/credentials),
  ``last_success``, ``last_failure``, ``fetch_success``, ``fetch_failure``, ``unknown_kid_fetches``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import ssl
import time
from typing import Any, Iterable

import aiohttp
from yarl import URL

from microgw.config.security import JwksTuning
from microgw.keys.jwks import JwksError, parse_jwks
from microgw.keys.model import VerifyKey
from microgw.keys.static import KeyIndex

__all__ = ["RemoteJwksSource"]

log = logging.getLogger(__name__)

_DEFAULTS = JwksTuning()  # the settings' defaults, for sources built without settings
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEADERS = {"Accept": "application/json, application/jwk-set+json"}


class _FetchError(Exception):
    """A fetch failed for a reason worth showing in ``last_error``."""


def redact_url(url: URL) -> str:
    """The URL without credentials, query or fragment: safe for logs and status pages."""
    bare = url.with_query(None).with_fragment(None)
    return str(bare.with_user(None) if bare.absolute else bare)


class RemoteJwksSource:
    """A :class:`~microgw.keys.model.KeySource` backed by a remote JWKS URL."""

    def __init__(
        self,
        url: str,
        *,
        refresh_interval: float = _DEFAULTS.refresh_interval,
        unknown_kid_cooldown: float = _DEFAULTS.unknown_kid_cooldown,
        timeout: float = _DEFAULTS.timeout,
        max_bytes: int = _DEFAULTS.max_bytes,
        ssl_context: ssl.SSLContext | None = None,
        allowed_algs: Iterable[str] | None = None,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        max_redirects: int = 3,
    ) -> None:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"JWKS URL must be an absolute http(s) URL, got {redact_url(parsed)!r}")
        if refresh_interval <= 0 or timeout <= 0 or max_bytes <= 0 or unknown_kid_cooldown < 0:
            raise ValueError("refresh_interval, timeout and max_bytes must be positive; cooldown >= 0")
        self.url = parsed
        self.description = f"jwks {redact_url(parsed)}"
        self.refresh_interval = float(refresh_interval)
        self.unknown_kid_cooldown = float(unknown_kid_cooldown)
        self.timeout = float(timeout)
        self.max_bytes = int(max_bytes)
        self.allowed_algs = frozenset(allowed_algs) if allowed_algs is not None else None
        self.retry_initial = float(retry_initial)
        self.retry_max = float(retry_max)
        self.max_redirects = int(max_redirects)
        self._ssl = ssl_context

        self._index = KeyIndex(())
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Task[bool] | None = None
        self._ready: asyncio.Event | None = None
        self._last_on_demand = -math.inf

        self.last_error: str | None = None
        self.last_success: float | None = None
        self.last_failure: float | None = None
        self.fetch_success = 0
        self.fetch_failure = 0
        self.unknown_kid_fetches = 0

    # --- KeySource --------------------------------------------------------------------------------

    def candidates(self, kid: str | None, alg: str) -> list[VerifyKey]:
        return self._index.candidates(kid, alg)

    async def refresh_for_unknown_kid(self, kid: str) -> bool:
        """Fetch again (rate-limited, single-flight) because a token named ``kid``; True if now known."""
        if kid in self._index.kids:
            return True
        if self._inflight is None:
            now = time.monotonic()
            if self._session is None or now - self._last_on_demand < self.unknown_kid_cooldown:
                return False
            self._last_on_demand = now
            self.unknown_kid_fetches += 1
        await self.refresh()
        return kid in self._index.kids

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background refresher; returns without waiting for the first fetch."""
        if self._task is not None:
            return
        self._ready = asyncio.Event()
        if self.last_success is not None:
            self._ready.set()
        connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True, limit=4)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout)
        )
        self._task = asyncio.create_task(self._run(), name=f"jwks-refresh {self.description}")

    async def close(self) -> None:
        """Stop the refresher and any fetch in flight; keys stay readable. Safe to call twice."""
        for task in (self._task, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:  # pragma: no cover - fetches never raise
                    pass
        self._task = self._inflight = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def refresh(self) -> bool:
        """Fetch now, or join the fetch already running; True when it succeeded."""
        task = self._inflight
        if task is None:
            if self._session is None:
                return False
            task = self._inflight = asyncio.create_task(self._fetch_once())
        return await asyncio.shield(task)

    async def wait_ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the first successful fetch (for tests and start-up probes)."""
        if self.ready:
            return True
        if self._ready is None:
            return False
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    # --- status -----------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once keys were fetched successfully at least once."""
        return self.last_success is not None

    @property
    def keys(self) -> tuple[VerifyKey, ...]:
        return self._index.keys

    def status(self) -> dict[str, Any]:
        return {
            "source": self.description,
            "ready": self.ready,
            "keys": len(self._index.keys),
            "kids": sorted(self._index.kids),
            "last_success": self.last_success,
            "last_failure": self.last_failure,
            "last_error": self.last_error,
            "fetch_success": self.fetch_success,
            "fetch_failure": self.fetch_failure,
            "unknown_kid_fetches": self.unknown_kid_fetches,
        }

    def __repr__(self) -> str:
        return f"RemoteJwksSource({self.description!r}, ready={self.ready}, keys={len(self._index.keys)})"

    # --- internals --------------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            if await self.refresh():
                failures = 0
                delay = self.refresh_interval * random.uniform(0.9, 1.0)
            else:
                failures += 1
                cap = min(self.retry_max, self.refresh_interval)
                delay = min(cap, self.retry_initial * 2 ** min(failures - 1, 30)) * random.uniform(0.8, 1.0)
            await asyncio.sleep(delay)

    async def _fetch_once(self) -> bool:
        try:
            return await self._fetch()
        finally:
            self._inflight = None

    async def _fetch(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._download()
            keys = parse_jwks(body, source=self.description, allowed_algs=self.allowed_algs)
            if not keys:
                raise _FetchError("the JWKS has no usable signing key")
        except _FetchError as exc:
            return self._failed(str(exc))
        except JwksError as exc:
            return self._failed(f"invalid JWKS: {exc}")
        except TimeoutError:
            return self._failed(f"timed out after {self.timeout:g} s")
        except aiohttp.ClientConnectorError as exc:
            return self._failed(f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return self._failed(f"fetch failed ({type(exc).__name__})")
        except Exception as exc:  # a bug must not kill the refresher nor reach request handling
            log.exception("%s: unexpected error while fetching", self.description)
            return self._failed(f"unexpected error ({type(exc).__name__})")
        old = self._index.kids
        self._index = KeyIndex(keys)
        self.last_success = time.time()
        self.last_error = None
        self.fetch_success += 1
        if self._ready is not None:
            self._ready.set()
        if self._index.kids != old or self.fetch_success == 1:
            log.info("%s: %d keys loaded (kids: %s)", self.description, len(keys), ", ".join(sorted(self._index.kids)) or "-")
        return True

    def _failed(self, message: str) -> bool:
        self.last_error = message
        self.last_failure = time.time()
        self.fetch_failure += 1
        log.warning("%s: fetch failed: %s (keeping %d keys)", self.description, message, len(self._index.keys))
        return False

    async def _download(self) -> bytes:
        assert self._session is not None
        url = self.url
        for _ in range(self.max_redirects + 1):
            async with self._session.get(url, allow_redirects=False, headers=_HEADERS) as resp:
                if resp.status in _REDIRECTS:
                    url = self._redirect_target(url, resp.headers.get("Location"), resp.status)
                    continue
                if resp.status != 200:
                    raise _FetchError(f"HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > self.max_bytes:
                    raise _FetchError(f"response larger than {self.max_bytes} bytes")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise _FetchError(f"response larger than {self.max_bytes} bytes")
                return bytes(body)
        raise _FetchError(f"more than {self.max_redirects} redirects")

    def _redirect_target(self, current: URL, location: str | None, status: int) -> URL:
        if not location:
            raise _FetchError(f"HTTP {status} without Location")
        target = current.join(URL(location))
        if target.scheme not in ("http", "https"):
            raise _FetchError("redirect to a non-http(s) URL refused")
        if current.scheme == "https" and target.scheme != "https":
            raise _FetchError("redirect from https to http refused")
        if (target.host or "").lower().rstrip(".") != (self.url.host or "").lower().rstrip("."):
            raise _FetchError("redirect to another host refused")
        return target
