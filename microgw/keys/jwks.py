"""JWK Set documents (RFC 7517) -> :class:`~microgw.keys.model.VerifyKey` list.

A broken *document* (not JSON, not an object, no ``keys`` list) fails as a whole with
:class:`JwksError`, so a remote source keeps its last good keys. A broken or unwanted *key* is skipped
(logged at debug level, without key material) so one odd entry cannot lock everybody out:

* unknown ``kty`` (or ``kty`` ``oct`` unless ``allow_oct``: a remote JWKS must not be able to inject
  HMAC secrets), unsupported curves (X25519, secp256k1, ...);
* ``use`` other than ``sig``; ``key_ops`` present without ``verify``;
* ``kid`` that is not a string; missing or malformed parameters; points not on the curve;
* RSA keys shorter than 2048 bits (see :mod:`microgw.keys.static`);
* no algorithm left after intersecting: type fit ∩ the JWK ``alg`` ∩ ``allowed_algs``.

A JWK ``alg`` that is not a JWA signature algorithm at all (the vendor publishes ``"alg": "RSA"``) is
treated as absent: the key stays pinned to the algorithms of its type. Private members (``d``, ...)
are ignored; only the public half is ever built.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from microgw.jose.algorithms import HMAC_ALGS
from microgw.keys.model import PublicKey, VerifyKey
from microgw.keys.static import KeyPolicyError, public_verify_key
from microgw.jose.b64 import B64Error, b64url_decode

__all__ = ["JwksError", "parse_jwks", "jwk_to_verify_key", "JWA_SIGNATURE_ALGS"]

log = logging.getLogger(__name__)

JWA_SIGNATURE_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "ES256K",
     "HS256", "HS384", "HS512", "EdDSA", "Ed25519", "Ed448", "none"}
)
_CURVES: dict[str, tuple[ec.EllipticCurve, int]] = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
}
_OKP = {"Ed25519": (ed25519.Ed25519PublicKey, 32), "Ed448": (ed448.Ed448PublicKey, 57)}


class JwksError(ValueError):
    """The document is not a JWK Set."""


class _Skip(Exception):
    """This JWK is not usable; the reason is logged, the document goes on."""


def parse_jwks(
    data: bytes | str,
    *,
    source: str = "jwks",
    allowed_algs: Iterable[str] | None = None,
    allow_oct: bool = False,
) -> list[VerifyKey]:
    """Usable verification keys of a JWK Set document, in document order."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise JwksError("not valid JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise JwksError('not a JWK Set (expected an object with a "keys" list)')
    allowed = frozenset(allowed_algs) if allowed_algs is not None else None
    keys: list[VerifyKey] = []
    for i, jwk in enumerate(doc["keys"]):
        key = jwk_to_verify_key(jwk, source=source, allowed_algs=allowed, allow_oct=allow_oct, position=i)
        if key is not None:
            keys.append(key)
    return keys


def jwk_to_verify_key(
    jwk: Any,
    *,
    source: str = "jwk",
    allowed_algs: frozenset[str] | None = None,
    allow_oct: bool = False,
    position: int = 0,
) -> VerifyKey | None:
    """One JWK as a VerifyKey, or None (logged) when it is not usable for verifying signatures."""
    try:
        return _convert(jwk, source, allowed_algs, allow_oct)
    except (_Skip, KeyPolicyError) as exc:
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        log.debug("%s: skipping key #%d (kid %r): %s", source, position, kid if isinstance(kid, str) else None, exc)
        return None


def _convert(jwk: Any, source: str, allowed_algs: frozenset[str] | None, allow_oct: bool) -> VerifyKey:
    if not isinstance(jwk, dict):
        raise _Skip("not an object")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise _Skip(f"use is {use!r}, not 'sig'")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise _Skip("key_ops does not allow verify")
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _Skip("kid is not a string")
    alg = jwk.get("alg")
    if alg is not None and not isinstance(alg, str):
        raise _Skip("alg is not a string")
    algs = allowed_algs
    if alg in JWA_SIGNATURE_ALGS:
        algs = frozenset({alg}) if algs is None else algs & {alg}

    kty = jwk.get("kty")
    if kty == "oct":
        if not allow_oct:
            raise _Skip("symmetric keys are not accepted from this source")
        secret = _bytes(jwk, "k")
        if not secret:
            raise _Skip("empty secret")
        fit = HMAC_ALGS if algs is None else HMAC_ALGS & algs
        if not fit:
            raise _Skip("no allowed algorithm")
        return VerifyKey(kid, secret, fit, source)
    if kty == "RSA":
        public: PublicKey = _rsa(jwk)
    elif kty == "EC":
        public = _ec(jwk)
    elif kty == "OKP":
        public = _okp(jwk)
    else:
        raise _Skip(f"unsupported kty {kty!r}")
    return public_verify_key(public, kid=kid, source=source, allowed_algs=algs)


def _bytes(jwk: dict, name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise _Skip(f"missing {name}")
    try:
        return b64url_decode(value)
    except (B64Error, UnicodeEncodeError):
        raise _Skip(f"{name} is not base64url") from None


def _uint(jwk: dict, name: str) -> int:
    raw = _bytes(jwk, name)
    if not raw:
        raise _Skip(f"empty {name}")
    return int.from_bytes(raw, "big")


def _rsa(jwk: dict) -> rsa.RSAPublicKey:
    try:
        return rsa.RSAPublicNumbers(_uint(jwk, "e"), _uint(jwk, "n")).public_key()
    except ValueError as exc:
        raise _Skip(f"invalid RSA parameters ({exc})") from None


def _ec(jwk: dict) -> ec.EllipticCurvePublicKey:
    crv = jwk.get("crv")
    if crv not in _CURVES:
        raise _Skip(f"unsupported curve {crv!r}")
    curve, size = _CURVES[crv]
    x, y = _bytes(jwk, "x"), _bytes(jwk, "y")
    if len(x) != size or len(y) != size:  # RFC 7518 §6.2.1.2: full-length coordinates
        raise _Skip("coordinates have the wrong length")
    try:
        return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve).public_key()
    except ValueError:
        raise _Skip("point is not on the curve") from None


def _okp(jwk: dict) -> ed25519.Ed25519PublicKey | ed448.Ed448PublicKey:
    crv = jwk.get("crv")
    if crv not in _OKP:
        raise _Skip(f"unsupported OKP curve {crv!r}")
    cls, size = _OKP[crv]
    x = _bytes(jwk, "x")
    if len(x) != size:
        raise _Skip("x has the wrong length")
    try:
        return cls.from_public_bytes(x)
    except ValueError:
        raise _Skip("invalid public key") from None
