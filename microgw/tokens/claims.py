"""Registered-claim checks (RFC 7519 §4.1) that need no knowledge of the API or application.

Time values must be JSON numbers: ``true`` is not a time (Python's bool is an int, so it is excluded
explicitly) and non-finite floats are refused because every comparison with NaN is False.
"""

from __future__ import annotations

from math import inf, isfinite
from typing import Any, Collection, Mapping

from microgw.errors import TokenError

__all__ = ["check_time_claims", "numeric_date", "audience_values", "audience_matches"]

_MISSING = object()


def numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """The claim as a NumericDate, None when absent; TokenError when present but not a finite number."""
    value = claims.get(name, _MISSING)
    if value is _MISSING:
        return None
    t = type(value)
    if t is int or (t is float and isfinite(value)):
        return value
    raise TokenError(f"token {name} claim is not a number")


def check_time_claims(claims: Mapping[str, Any], now: float, skew: int, require_exp: bool) -> tuple[float | None, float]:
    """Refuse expired, not-yet-valid and issued-in-the-future tokens, allowing ``skew`` seconds.

    Valid when ``now < exp + skew``, ``nbf - skew <= now`` and ``iat - skew <= now``. Returns the
    validity window ``(exp + skew or None, max(nbf, iat) - skew or -inf)`` so a cache can re-check
    time cheaply. Inlined rather than calling :func:`numeric_date` three times: it runs per token.
    """
    get = claims.get
    exp = get("exp")
    if exp is None:
        if "exp" in claims:
            raise TokenError("token exp claim is not a number")
        if require_exp:
            raise TokenError("token has no expiry")
        end = None
    else:
        t = type(exp)
        if t is not int and (t is not float or not isfinite(exp)):
            raise TokenError("token exp claim is not a number")
        end = exp + skew
        if now >= end:
            raise TokenError("token expired")
    start = -inf
    nbf = get("nbf")
    if nbf is not None or "nbf" in claims:
        t = type(nbf)
        if t is not int and (t is not float or not isfinite(nbf)):
            raise TokenError("token nbf claim is not a number")
        start = nbf - skew
        if now < start:
            raise TokenError("token not yet valid")
    iat = get("iat")
    if iat is not None or "iat" in claims:
        t = type(iat)
        if t is not int and (t is not float or not isfinite(iat)):
            raise TokenError("token iat claim is not a number")
        if now < iat - skew:
            raise TokenError("token issued in the future")
        if iat - skew > start:
            start = iat - skew
    return end, start


def audience_values(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``aud`` claim as a tuple: a string or a list of strings; absent gives ()."""
    aud = claims.get("aud", _MISSING)
    if aud is _MISSING:
        return ()
    if type(aud) is str:
        return (aud,)
    if type(aud) is list and all(type(a) is str for a in aud):
        return tuple(aud)
    raise TokenError("token aud claim is not a string or a list of strings")


def audience_matches(aud_values: tuple[str, ...], accepted: Collection[str]) -> bool:
    """True when any audience of the token is accepted (exact, case-sensitive); nothing accepted -> False."""
    return any(a in accepted for a in aud_values)
