"""The JWT authenticator: token text -> :class:`VerifiedToken` or :class:`~microgw.errors.TokenError`.

Flow of :meth:`TokenValidator.validate`:

1. Cache lookup. The key binds the token text *and* every input that was checked (the allowed
   auth-server ids, ``require_exp``) plus this validator instance, so a cached "valid" can never be
   reused for a different rule, and a cache shared across config reloads cannot leak results from
   an old set of auth servers. On every hit the time window is re-checked and the key that verified
   the token must still be offered by its source (a key withdrawn from the JWKS stops its tokens at
   the next refetch, not when the entry ages out).
2. :func:`~microgw.tokens.verify.parse`, then ``iss`` (must be a string) selects the auth server by
   exact, case-sensitive match in a dict — O(1) however many issuers are configured (Istio #49691).
3. The server must be allowed for this API, and the ``alg`` allowed for the server.
4. Keys: ``candidates(kid, alg)`` of each key source in order; when a ``kid`` is given and no source
   has a candidate, each source is asked once to ``refresh_for_unknown_kid`` and the lookup retried.
   Candidates are tried in order until one verifies.
5. Time claims with the server's clock skew, then cache until the token's validity ends.

**Audience is not checked here**: the accepted audiences depend on the API and the application, so a
later stage calls :func:`~microgw.tokens.claims.audience_matches` with ``audience_values(claims)``.

Decisions: two auth servers with the same issuer are refused at construction (ValueError), because
the issuer is the only thing that selects keys; the default clock skew is 60 s (as Envoy), used for
servers whose ``clock_skew`` is None. ``claims`` of a result is shared with the cache: treat it as
read-only (``header`` is a read-only mapping).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from microgw.config.security import DEFAULT_CLOCK_SKEW, DEFAULT_MAX_TOKEN_LENGTH
from microgw.errors import TokenError
from microgw.keys.model import KeySource, VerifyKey
from microgw.tokens.cache import VerifiedTokenCache
from microgw.tokens.claims import check_time_claims
from microgw.tokens.verify import ParsedToken, parse, verify_signature

__all__ = ["AuthServer", "VerifiedToken", "TokenValidator"]


@dataclass(frozen=True, slots=True)
class AuthServer:
    """A trusted token issuer and where its keys come from.

    ``clock_skew`` None means the validator's default; ``allowed_algs`` None means every algorithm its
    keys fit.
    """

    id: str
    name: str
    issuer: str
    key_sources: tuple[KeySource, ...]
    clock_skew: int | None = None
    allowed_algs: frozenset[str] | None = None


@dataclass(slots=True)
class VerifiedToken:
    """A token whose signature, issuer and time claims were checked (audience was not)."""

    claims: dict[str, Any]
    header: Mapping[str, Any]
    auth_server: AuthServer
    key_source: str
    kid: str | None
    alg: str
    expires_at: float | None
    valid_from: float = float("-inf")  # now must be >= this (nbf/iat minus skew) on a cache hit
    verify_key: VerifyKey | None = field(default=None, repr=False, compare=False)  # may hold an HMAC secret


class TokenValidator:
    """Validates bearer JWTs against a fixed set of auth servers; immutable after construction."""

    __slots__ = ("_by_issuer", "_servers", "_default_skew", "_cache", "_max_length", "_bind")

    def __init__(
        self,
        auth_servers: Iterable[AuthServer],
        *,
        default_skew: int = DEFAULT_CLOCK_SKEW,
        cache: VerifiedTokenCache[VerifiedToken] | None = None,
        max_token_length: int = DEFAULT_MAX_TOKEN_LENGTH,
    ) -> None:
        by_issuer: dict[str, AuthServer] = {}
        ids: set[str] = set()
        for server in auth_servers:
            if not isinstance(server.issuer, str) or not server.issuer:
                raise ValueError(f"auth server {server.id!r} has no issuer")
            if server.issuer in by_issuer:
                raise ValueError(
                    f"auth servers {by_issuer[server.issuer].id!r} and {server.id!r} have the same issuer "
                    f"{server.issuer!r}; the issuer selects the keys, so it must be unique"
                )
            if server.id in ids:
                raise ValueError(f"duplicate auth server id {server.id!r}")
            if not server.key_sources:
                raise ValueError(f"auth server {server.id!r} has no key source")
            ids.add(server.id)
            by_issuer[server.issuer] = server
        if default_skew < 0:
            raise ValueError("default_skew must be >= 0")
        self._by_issuer = by_issuer
        self._servers = tuple(by_issuer.values())
        self._default_skew = default_skew
        self._cache = cache
        self._max_length = max_token_length
        self._bind = object()  # ties cache entries to this validator

    @property
    def auth_servers(self) -> tuple[AuthServer, ...]:
        return self._servers

    def server_for_issuer(self, issuer: str) -> AuthServer | None:
        return self._by_issuer.get(issuer)

    async def validate(
        self,
        token: str,
        *,
        allowed_server_ids: frozenset[str] | None = None,
        require_exp: bool = True,
        now: float | None = None,
    ) -> VerifiedToken:
        """Check signature, issuer and time claims; TokenError with a short description otherwise.

        ``allowed_server_ids`` None accepts every configured auth server.
        """
        if type(token) is not str:
            raise TokenError("malformed token")
        if now is None:
            now = time.time()
        if allowed_server_ids is not None and type(allowed_server_ids) is not frozenset:
            allowed_server_ids = frozenset(allowed_server_ids)  # must be hashable for the cache key
        cache = self._cache
        if cache is not None:
            cache_key = (token, allowed_server_ids, require_exp, self._bind)
            hit = cache.get(cache_key, now)
            if hit is not None and now >= hit.valid_from and _still_offered(hit):
                return hit

        parsed = parse(token, self._max_length)
        claims = parsed.claims
        iss = claims.get("iss")
        if type(iss) is not str:
            raise TokenError("token has no issuer")
        server = self._by_issuer.get(iss)
        if server is None:
            raise TokenError("untrusted issuer")
        if allowed_server_ids is not None and server.id not in allowed_server_ids:
            raise TokenError("issuer not accepted for this API")
        if server.allowed_algs is not None and parsed.alg not in server.allowed_algs:
            raise TokenError("algorithm not allowed for this issuer")

        sources = server.key_sources
        if len(sources) == 1:
            candidates = sources[0].candidates(parsed.kid, parsed.alg)
        else:
            candidates = _candidates(server, parsed.kid, parsed.alg)
        if not candidates:
            candidates = await self._after_refresh(server, parsed)
        key = _first_verifying(parsed, candidates)
        skew = self._default_skew if server.clock_skew is None else server.clock_skew
        valid_until, valid_from = check_time_claims(claims, now, skew, require_exp)

        result = VerifiedToken(
            claims, parsed.header, server, key.source, parsed.kid, parsed.alg, claims.get("exp"), valid_from, key
        )
        if cache is not None:
            cache.put(cache_key, result, valid_until, now)
        return result

    async def _after_refresh(self, server: AuthServer, parsed: ParsedToken) -> list[VerifyKey]:
        """No key fits: when the token names a kid, let each source look again once, then retry."""
        kid = parsed.kid
        if kid is not None:
            refreshed = False
            for source in server.key_sources:
                refreshed = await source.refresh_for_unknown_kid(kid) or refreshed
            if refreshed:
                candidates = _candidates(server, kid, parsed.alg)
                if candidates:
                    return candidates
        raise TokenError("no key of the issuer matches the token" if kid is None else "unknown key id")


def _first_verifying(parsed: ParsedToken, candidates: list[VerifyKey]) -> VerifyKey:
    """The first candidate whose signature check passes; the last refusal otherwise."""
    error: TokenError | None = None
    for key in candidates:
        try:
            verify_signature(parsed, key)
            return key
        except TokenError as exc:
            error = exc
    assert error is not None
    raise error


def _candidates(server: AuthServer, kid: str | None, alg: str) -> list[VerifyKey]:
    found: list[VerifyKey] = []
    for source in server.key_sources:
        found.extend(source.candidates(kid, alg))
    return found


def _still_offered(hit: VerifiedToken) -> bool:
    """Is the key that verified a cached token still offered by its auth server?

    A key withdrawn from a JWKS (or retired from a keyring) must stop cached tokens at the next
    request, not when the cache entry ages out. Identity makes the common case a pointer compare;
    after a refetch rebuilt the key objects, equality of the public key decides.
    """
    key = hit.verify_key
    for source in hit.auth_server.key_sources:
        if key in source.candidates(hit.kid, hit.alg):
            return True
    return False
