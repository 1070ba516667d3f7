"""RFC 7662 token introspection: ask an authorization server whether an (opaque) token is active.

One :class:`Introspector` per auth server with ``remoteIntrospectionConfig``; the runtime builds it,
starts it with the other background parts and keeps it across reloads while its settings stay the
same (so its cache survives a reload). Why each part is there:

* **Request** — ``POST`` form ``token=<t>&token_type_hint=access_token``, client authentication by
  HTTP Basic with ``clientId``/``clientSecret`` (both form-urlencoded first, RFC 6749 §2.3.1), no
  redirects followed, answers of at most 64 KiB, a JSON object with a boolean ``active`` (anything
  else is the server's failure).
* **Cache** — a bounded LRU keyed by the endpoint, the client id and a SHA-256 of the token: every
  input that decides the answer (Oathkeeper's CVE-2021-32701 was a cache key without them). The
  *answer* is cached, never a decision: scopes, audience and application are checked on every
  request against the cached claims. An active answer lives until the token's ``exp`` or
  ``cache_ttl``, whichever comes first; an inactive one ``inactive_ttl`` (a burst of requests with a
  revoked token asks once, and a token that becomes active is seen soon).
* **Single flight** — concurrent requests with the same uncached token share one introspection; the
  shared request runs as its own task, so a client that gives up does not cancel it for the others.
* **Timeout and circuit breaker** — a request takes at most ``timeout`` seconds. After
  ``failure_threshold`` consecutive failures (timeouts, refused connections, non-200 answers, answers
  that are not RFC 7662 JSON) the breaker opens: for ``open_seconds`` requests get 503 at once
  instead of each waiting for a dead server; then one request tries, and its success closes it.
* **Failures are 503**, never 401: the client did nothing wrong (a wrong ``clientSecret`` is the
  gateway's configuration, logged as such). No ``WWW-Authenticate`` on a 503: there is nothing the
  client could present instead.

Tokens and the client secret are never logged; log lines name the endpoint without query or user info.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import ssl
import time
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from microgw.config.security import IntrospectionConfig
from microgw.errors import GatewayError, TokenError
from microgw.keys.remote import redact_url
from microgw.tokens.cache import VerifiedTokenCache
from microgw.tokens.claims import numeric_date
from microgw.tokens.validator import AuthServer, VerifiedToken

log = logging.getLogger("microgw.introspection")

MAX_ANSWER_BYTES = 64 * 1024
SOURCE_PREFIX = "introspection:"


class IntrospectionUnavailable(GatewayError):
    """The authorization server could not answer: 503, with a hint when to try again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(
            503,
            "introspection_unavailable",
            f"The token cannot be checked now: {message}",
            headers={"Retry-After": str(max(1, int(retry_after + 0.999)))},
        )


class _Failure(Exception):
    """One failed introspection; the text is for the log (never holds the token or the secret)."""


class CircuitBreaker:
    """Closed until ``threshold`` consecutive failures; then open for ``open_seconds``; then one trial."""

    __slots__ = ("threshold", "open_seconds", "failures", "opened_until", "trial", "clock")

    def __init__(self, threshold: int, open_seconds: float, clock=time.monotonic) -> None:
        self.threshold = threshold
        self.open_seconds = open_seconds
        self.failures = 0
        self.opened_until = 0.0
        self.trial = False  # a half-open trial request is on its way
        self.clock = clock

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold

    def allow(self) -> bool:
        if self.failures < self.threshold:
            return True
        if self.trial or self.clock() < self.opened_until:
            return False
        self.trial = True
        return True

    def retry_after(self) -> float:
        return max(0.0, self.opened_until - self.clock()) or self.open_seconds

    def success(self) -> None:
        self.failures = 0
        self.trial = False

    def failure(self) -> bool:
        """Count a failure; True when this one opened (or re-opened) the breaker."""
        self.failures += 1
        self.trial = False
        if self.failures >= self.threshold:
            self.opened_until = self.clock() + self.open_seconds
            return True
        return False


class Introspector:
    """Introspects tokens at one endpoint for one auth server; see the module's notes."""

    ready = True  # never holds readiness back: it has nothing to load before the first request

    def __init__(
        self,
        server_id: str,
        server_name: str,
        issuer: str | None,
        config: IntrospectionConfig,
        *,
        clock_skew: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        url = URL(config.endpoint)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"the introspection endpoint must be an absolute http(s) URL, got {redact_url(url)!r}")
        if not config.client_id or not config.client_secret:
            raise ValueError("the introspection endpoint needs clientId and clientSecret")
        tuning = config.tuning
        self.url = url
        self.description = f"introspection {redact_url(url)}"
        self.server = AuthServer(id=server_id, name=server_name, issuer=issuer or "", key_sources=(), clock_skew=clock_skew)
        self.issuer = issuer
        self.tokens = tuning.tokens
        self.timeout = float(tuning.timeout)
        self.cache_ttl = float(tuning.cache_ttl)
        self.inactive_ttl = float(tuning.inactive_ttl)
        self.clock_skew = clock_skew
        self._auth = "Basic " + _basic(config.client_id, config.client_secret)
        self._client_id = config.client_id
        self._cache: VerifiedTokenCache[Any] | None = (
            VerifiedTokenCache(tuning.cache_entries, max_ttl=self.cache_ttl) if self.cache_ttl > 0 else None
        )
        self._breaker = CircuitBreaker(tuning.failure_threshold, tuning.open_seconds)
        self._inflight: dict[bytes, asyncio.Task] = {}
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self.reuse_key = (
            "introspection", server_id, str(url), config.client_id,
            hashlib.sha256(config.client_secret.encode()).hexdigest(), tuning, issuer, clock_skew,
        )
        self.requests = 0  # introspection requests sent
        self.failures = 0

    # --- lifecycle (a background part of the runtime) ---------------------------------------------

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True, limit=64)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def cache_hits(self) -> int:
        return self._cache.hits if self._cache is not None else 0

    # --- the check ----------------------------------------------------------------------------------

    async def introspect(self, token: str, *, now: float | None = None) -> VerifiedToken:
        """The token's claims when the server says it is active (and its times fit); otherwise
        :class:`TokenError` (401); :class:`IntrospectionUnavailable` (503) when the server cannot say."""
        now = time.time() if now is None else now
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        cache = self._cache
        cache_key = (str(self.url), self._client_id, key)
        if cache is not None:
            hit = cache.get(cache_key, now)
            if hit is not None:
                return self._verdict(hit, now)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._ask(token))
            self._inflight[key] = task
            task.add_done_callback(lambda _t, k=key: self._inflight.pop(k, None))
        answer = await asyncio.shield(task)
        now = time.time()
        if cache is not None:
            if isinstance(answer, VerifiedToken) and (answer.expires_at is None or now < answer.expires_at):
                cache.put(cache_key, answer, answer.expires_at, now)
            elif self.inactive_ttl > 0:
                answer = answer if isinstance(answer, str) else "the token has expired"
                cache.put(cache_key, answer, now + self.inactive_ttl, now)
        return self._verdict(answer, now)

    def _verdict(self, answer: Any, now: float) -> VerifiedToken:
        if not isinstance(answer, VerifiedToken):
            raise TokenError(answer)
        if answer.expires_at is not None and now >= answer.expires_at:
            raise TokenError("the token has expired")
        if now < answer.valid_from:
            raise TokenError("the token is not valid yet")
        return answer

    async def _ask(self, token: str) -> Any:
        """One introspection: a VerifiedToken (active) or the reason text (not active)."""
        breaker = self._breaker
        if not breaker.allow():
            raise IntrospectionUnavailable("the authorization server is failing; not asked", breaker.retry_after())
        self.requests += 1
        try:
            answer = await self._post(token)
        except _Failure as exc:
            self.failures += 1
            opened = breaker.failure()
            log.warning("%s: %s%s", self.description, exc, f"; circuit breaker open for {breaker.open_seconds:g} s" if opened else "")
            raise IntrospectionUnavailable("the authorization server did not answer", breaker.retry_after() if opened else 1) from None
        breaker.success()
        return self._claims(answer)

    async def _post(self, token: str) -> dict[str, Any]:
        if self._session is None:
            await self.start()
        assert self._session is not None
        form = {"token": token, "token_type_hint": "access_token"}
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        try:
            async with asyncio.timeout(self.timeout):
                async with self._session.post(self.url, data=form, headers=headers, allow_redirects=False) as resp:
                    body = await resp.content.read(MAX_ANSWER_BYTES + 1)
                    status = resp.status
        except TimeoutError:
            raise _Failure(f"no answer within {self.timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            raise _Failure(f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _Failure(f"request failed ({type(exc).__name__})") from None
        if status in (401, 403):
            raise _Failure(f"the server refused microgw's client credentials (HTTP {status}): check clientId and clientSecret")
        if status != 200:
            raise _Failure(f"the server answered HTTP {status}")
        if len(body) > MAX_ANSWER_BYTES:
            raise _Failure(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
        try:
            answer = json.loads(body)
        except ValueError:
            raise _Failure("the answer is not JSON") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise _Failure("the answer is not an RFC 7662 object with a boolean 'active'")
        return answer

    def _claims(self, answer: dict[str, Any]) -> Any:
        """An active answer as a VerifiedToken; the reason text for an inactive or unusable one."""
        if answer.get("active") is not True:
            return "the token is not active"
        if self.issuer and "iss" in answer and answer["iss"] != self.issuer:
            return "the token's issuer does not match the authorization server"
        try:
            exp = numeric_date(answer, "exp")
            nbf = numeric_date(answer, "nbf")
        except TokenError as exc:
            return str(exc)
        skew = self.clock_skew
        claims = {k: v for k, v in answer.items() if k != "active"}
        return VerifiedToken(
            claims=claims,
            header={},
            auth_server=self.server,
            key_source=SOURCE_PREFIX + self.server.id,
            kid=None,
            alg="",
            expires_at=None if exp is None else exp + skew,
            valid_from=float("-inf") if nbf is None else nbf - skew,
        )


def _basic(client_id: str, secret: str) -> str:
    import base64

    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return base64.b64encode(pair.encode()).decode()


def is_introspected(verified: Any) -> bool:
    return (getattr(verified, "key_source", None) or "").startswith(SOURCE_PREFIX)
