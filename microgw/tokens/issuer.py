"""The local token issuer: mints the JWTs of the vendor's two token endpoints.

* :meth:`TokenIssuer.issue_for_user` — ``GET /rest/pub/apigateway/jwt/getJsonWebToken[?app_id=]``.
* :meth:`TokenIssuer.issue_for_application` — ``POST /gateway/security/getJsonWebToken``; such a
  token carries ``client_id`` = the application id (RFC 9068), so ``oAuth2Token`` identifies it.

The issuer holds no key: it asks ``keyring_provider()`` for the keyring on every token, so a
rotation (a swapped :class:`~microgw.keys.signing.KeyringRef`) applies to the next token without
rebuilding the issuer. It signs with the newest active key of its configured algorithm.

``aud`` shape: the configured audience(s), then ``app_id`` when given and not already listed;
a single value is written as a string (what most validators and the vendor expect), several as a
list (RFC 7519 §4.1.3), none leaves ``aud`` out.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from microgw.errors import GatewayError, bad_request
from microgw.jose.sign import SUPPORTED_ALGS
from microgw.keys.signing import SigningKey, SigningKeyring

# Claims the issuer sets itself; a caller's claims_set may not override them. ``app_id`` is added
# to the RFC 7519 registered ones because the issuer gives it meaning in user tokens: letting one
# application mint ``app_id: <another app>`` would invite impersonation. For the same reason the
# OAuth 2 claims are reserved: ``client_id`` (set to the application's id; oAuth2Token identification
# reads it, as ``azp``), and ``scope``/``scp`` (an application must not grant itself scopes).
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "app_id", "microgw_token", "client_id", "azp", "scope", "scp"})

# The mark of an application token this gateway minted (POST getJsonWebToken): its other claims
# beside GATEWAY_SET_CLAIMS are the caller's own, which policies must not take as facts about a user.
MINTED_CLAIM = "microgw_token"
MINTED_APPLICATION = "application"
GATEWAY_SET_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", MINTED_CLAIM})

# Limits on caller-supplied claims: the token travels in a header, and proxies commonly cap all
# headers together at 8 KiB. 4 KiB of JSON claims gives a token of about 6 KiB with an RSA-3072 key.
MAX_CUSTOM_CLAIMS = 64
MAX_CUSTOM_CLAIMS_BYTES = 4096
MAX_EXPIRY_SECONDS = 366 * 24 * 3600

_claims_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _audiences(audience: str | Sequence[str] | None) -> tuple[str, ...]:
    if audience is None:
        return ()
    values = [audience] if isinstance(audience, str) else list(audience)
    if not all(isinstance(v, str) and v for v in values):
        raise ValueError("audience must be a non-empty string or a list of them")
    return tuple(dict.fromkeys(values))


def _new_jti() -> str:
    return secrets.token_urlsafe(16)  # 128 random bits


class TokenIssuer:
    """Mints signed JWTs for gateway users and applications. Immutable once built."""

    __slots__ = ("issuer", "alg", "expiry_seconds", "audiences", "_provider", "_max_claims", "_max_bytes")

    def __init__(
        self,
        issuer: str,
        keyring_provider: Callable[[], SigningKeyring],
        alg: str,
        expiry_seconds: int,
        audience: str | Sequence[str] | None,
        *,
        max_custom_claims: int = MAX_CUSTOM_CLAIMS,
        max_custom_claims_bytes: int = MAX_CUSTOM_CLAIMS_BYTES,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer must be a non-empty string")
        if alg not in SUPPORTED_ALGS or alg.startswith("HS"):
            raise ValueError(f"unsupported signing algorithm {alg!r}")
        if isinstance(expiry_seconds, bool) or not isinstance(expiry_seconds, int):
            raise ValueError("expiry_seconds must be an integer")
        if not 0 < expiry_seconds <= MAX_EXPIRY_SECONDS:
            raise ValueError(f"expiry_seconds must be between 1 and {MAX_EXPIRY_SECONDS}")
        self.issuer = issuer
        self.alg = alg
        self.expiry_seconds = expiry_seconds
        self.audiences = _audiences(audience)
        self._provider = keyring_provider
        self._max_claims = max_custom_claims
        self._max_bytes = max_custom_claims_bytes
        try:  # fail at startup, not at the first request, when no key fits alg
            keyring_provider().signing_key(alg)
        except KeyError:
            raise ValueError(f"the keyring has no active {alg} key") from None

    def _key(self) -> SigningKey:
        try:
            return self._provider().signing_key(self.alg)
        except KeyError:
            raise GatewayError(500, "issuer_unavailable", f"No active signing key for {self.alg}") from None

    def _time_claims(self, now: float | None) -> dict[str, Any]:
        iat = int(time.time() if now is None else now)
        return {"iat": iat, "nbf": iat, "exp": iat + self.expiry_seconds, "jti": _new_jti()}

    def issue_for_user(self, user: str, app_id: str | None = None, *, now: float | None = None) -> str:
        """A token for an authenticated gateway user: ``sub`` = user, ``app_id`` also as audience."""
        if not isinstance(user, str) or not user:
            raise bad_request("A user name is required")
        if app_id is not None and (not isinstance(app_id, str) or not app_id):
            raise bad_request("app_id must be a non-empty string")
        key = self._key()
        claims: dict[str, Any] = {"iss": self.issuer, "sub": user}
        audiences = self.audiences
        if app_id is not None and app_id not in audiences:
            audiences = (*audiences, app_id)
        if audiences:
            claims["aud"] = audiences[0] if len(audiences) == 1 else list(audiences)
        claims.update(self._time_claims(now))
        if app_id is not None:
            claims["app_id"] = app_id
        return key.signer.sign(claims)

    def issue_for_application(
        self, app_id: str, claims_set: Mapping[str, Any] | None, *, now: float | None = None
    ) -> tuple[str, int]:
        """A token for an identified application: ``(token, expires_in seconds)``.

        ``claims_set`` (None means no custom claims) must be a JSON object of at most
        ``max_custom_claims`` members and ``max_custom_claims_bytes`` bytes of compact JSON, and may
        not name a reserved claim; each refusal is a 400.
        """
        if not isinstance(app_id, str) or not app_id:
            raise bad_request("Unable to uniquely identify application")
        custom = self._checked_claims(claims_set)
        key = self._key()
        claims: dict[str, Any] = {"iss": self.issuer, "sub": app_id}
        if self.audiences:
            claims["aud"] = self.audiences[0] if len(self.audiences) == 1 else list(self.audiences)
        claims.update(self._time_claims(now))
        claims["client_id"] = app_id  # RFC 9068 §2.2: the client the token was issued to
        claims.update(custom)
        claims[MINTED_CLAIM] = MINTED_APPLICATION  # after the custom ones, which may not name it anyway
        return key.signer.sign(claims), self.expiry_seconds

    def _checked_claims(self, claims_set: Mapping[str, Any] | None) -> dict[str, Any]:
        if claims_set is None:
            return {}
        if not isinstance(claims_set, Mapping):
            raise bad_request("claimsSet must be a JSON object")
        if len(claims_set) > self._max_claims:
            raise bad_request(f"claimsSet may hold at most {self._max_claims} claims")
        reserved = sorted(RESERVED_CLAIMS.intersection(claims_set))
        if reserved:
            raise bad_request(f"claimsSet may not set registered claims: {', '.join(reserved)}")
        if not all(isinstance(name, str) and name for name in claims_set):
            raise bad_request("claim names must be non-empty strings")
        custom = dict(claims_set)
        try:
            size = len(_claims_dumps(custom).encode("utf-8"))
        except (TypeError, ValueError, RecursionError):
            raise bad_request("claimsSet must hold JSON values only") from None
        if size > self._max_bytes:
            raise bad_request(f"claimsSet may be at most {self._max_bytes} bytes of JSON")
        return custom
