"""JWS compact parsing and signature verification: the one fast path every token takes.

:func:`parse` turns the text into a :class:`ParsedToken` without trusting anything in it;
:func:`verify_signature` checks the signature with a key chosen by the caller (never by the token).
Both raise only :class:`~microgw.errors.TokenError` with a short description safe to show a client.

What is refused, and why
------------------------
* ``alg`` missing, not a string, ``none`` in any letter case, or not one of :data:`SUPPORTED_ALGS`.
* ``alg`` not in the key's ``algs``; each verifier also checks the key's *type*, so an HS256 token can
  never be checked against an RSA public key used as an HMAC secret (RS/HS confusion).
* Headers ``jwk``, ``jku``, ``x5u``, ``x5c``: keys carried by the token are never trusted nor fetched.
* Any ``crit`` header: we understand no extensions (RFC 7515 §4.1.11 says refuse what you don't).
* JWE (5 segments) and any segment count other than 3; an empty signature.
* Anything not canonical unpadded base64url (same rules as :func:`microgw.tokens.b64.b64url_decode`,
  applied to the whole token in one pass because per-segment regex + decode cost several µs),
  non-ASCII tokens, header/payload that are not UTF-8 JSON objects, the JSON constants
  ``NaN``/``Infinity``, nesting too deep, tokens longer than ``max_length``.
* ECDSA signatures that are not raw ``r||s`` of exactly the curve's size (DER is refused), or whose
  ``r`` or ``s`` is 0 or >= the curve order (CVE-2022-21449 "psychic signatures").

Duplicate member names in the header or claims are accepted and the last one wins, as RFC 7515 §4 and
RFC 7519 §4 permit; rejecting them needs a Python hook per JSON object, which costs more than every
other check here together. The signature still covers the exact bytes, so only the issuer can make such
a token.
"""

from __future__ import annotations

import hmac
import json
from binascii import a2b_base64
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from microgw.errors import TokenError
from microgw.keys.model import VerifyKey

__all__ = ["ParsedToken", "parse", "verify_signature", "SUPPORTED_ALGS", "DEFAULT_MAX_LENGTH"]

DEFAULT_MAX_LENGTH = 8192

_B64URL_AND_DOT = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_PAD = (b"", None, b"==", b"=")  # by len % 4; a remainder of 1 is impossible base64
_REFUSED_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})


def _no_json_constants(name: str) -> Any:
    raise ValueError(name)


# NaN/Infinity would make every time comparison False (a token that never expires).
_json_decode = json.JSONDecoder(parse_constant=_no_json_constants).decode


@dataclass(slots=True)
class ParsedToken:
    """A syntactically valid JWS whose signature has NOT been checked yet."""

    header: dict[str, Any]
    claims: dict[str, Any]
    alg: str
    kid: str | None
    signing_input: bytes
    signature: bytes


def _segment(std: bytes, start: int, end: int) -> bytes:
    """Decode one segment of the token already translated to the standard base64 alphabet."""
    part = std[start:end]
    pad = _PAD[len(part) & 3]
    if pad is None:
        raise TokenError("malformed token")
    return a2b_base64(part + pad)


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = _json_decode(data.decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, int too long, NaN
        raise TokenError(f"token {what} is not valid JSON") from None
    if type(value) is not dict:
        raise TokenError(f"token {what} is not a JSON object")
    return value


def parse(token: str, max_length: int = DEFAULT_MAX_LENGTH) -> ParsedToken:
    """Split, decode and sanity-check a compact JWS; see the module docstring for what is refused."""
    if type(token) is not str:
        raise TokenError("malformed token")
    if len(token) > max_length:
        raise TokenError("token too large")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise TokenError("malformed token") from None
    dots = raw.count(b".")
    if dots != 2:
        raise TokenError("encrypted tokens (JWE) are not accepted" if dots == 4 else "malformed token")
    if raw.translate(None, _B64URL_AND_DOT):  # anything left is outside the base64url alphabet
        raise TokenError("malformed token")
    dot1 = raw.index(b".")
    dot2 = raw.index(b".", dot1 + 1)
    std = raw.translate(_URL_TO_STD)

    header = _json_object(_segment(std, 0, dot1), "header")
    alg = header.get("alg")
    if type(alg) is not str:
        raise TokenError("token has no valid alg")
    if alg not in SUPPORTED_ALGS:
        if alg.lower() == "none":
            raise TokenError("unsigned tokens are not accepted")
        raise TokenError("unsupported algorithm")
    if not _REFUSED_HEADERS.isdisjoint(header):
        if "crit" in header:
            raise TokenError("critical header extensions are not supported")
        raise TokenError("keys embedded in the token (jwk, jku, x5u, x5c) are not accepted")
    kid = header.get("kid")
    if kid is not None and type(kid) is not str:
        raise TokenError("token kid is not a string")

    claims = _json_object(_segment(std, dot1 + 1, dot2), "claims")
    signature = _segment(std, dot2 + 1, len(std))
    if not signature:
        raise TokenError("token has no signature")
    return ParsedToken(header, claims, alg, kid, raw[:dot2], signature)


def verify_signature(parsed: ParsedToken, key: VerifyKey) -> None:
    """Check the signature with ``key``; raises TokenError unless it verifies.

    The algorithm must be one the key allows (``key.algs``) and fit the key's type.
    """
    alg = parsed.alg
    if alg not in key.algs:
        raise TokenError("algorithm not allowed for this key")
    _VERIFIERS[alg](key.key, parsed.signing_input, parsed.signature)


# --- one verifier per algorithm, built once ---------------------------------------------------------

Verifier = Callable[[Any, bytes, bytes], None]


def _bad_signature() -> TokenError:
    return TokenError("invalid signature")


def _wrong_key() -> TokenError:
    return TokenError("key does not fit the algorithm")


def _rsa(pad: padding.AsymmetricPadding, hash_: hashes.HashAlgorithm) -> Verifier:
    def verify(key: Any, data: bytes, sig: bytes) -> None:
        if not isinstance(key, rsa.RSAPublicKey):
            raise _wrong_key()
        try:
            key.verify(sig, data, pad, hash_)
        except InvalidSignature:
            raise _bad_signature() from None

    return verify


def _pss(hash_: hashes.HashAlgorithm) -> Verifier:
    # RFC 7518 §3.5: the salt is as long as the hash output; DIGEST_LENGTH enforces exactly that.
    return _rsa(padding.PSS(mgf=padding.MGF1(hash_), salt_length=padding.PSS.DIGEST_LENGTH), hash_)


# Curve orders (SEC 2): r and s must lie in [1, n-1].
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P384_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973
_P521_N = 0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409


def _ecdsa(size: int, order: int, hash_: hashes.HashAlgorithm) -> Verifier:
    algorithm = ec.ECDSA(hash_)
    length = 2 * size

    def verify(key: Any, data: bytes, sig: bytes) -> None:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise _wrong_key()
        if len(sig) != length:  # JWS uses raw r||s (RFC 7518 §3.4); DER or truncated forms are refused
            raise _bad_signature()
        r = int.from_bytes(sig[:size], "big")
        s = int.from_bytes(sig[size:], "big")
        if not (0 < r < order and 0 < s < order):
            raise _bad_signature()
        try:
            key.verify(encode_dss_signature(r, s), data, algorithm)
        except InvalidSignature:
            raise _bad_signature() from None

    return verify


def _hmac(digest: str) -> Verifier:
    def verify(key: Any, data: bytes, sig: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)):
            raise _wrong_key()
        if not hmac.compare_digest(hmac.digest(key, data, digest), sig):
            raise _bad_signature()

    return verify


def _eddsa(key: Any, data: bytes, sig: bytes) -> None:
    if not isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        raise _wrong_key()
    try:
        key.verify(sig, data)
    except InvalidSignature:
        raise _bad_signature() from None


_PKCS1 = padding.PKCS1v15()
_SHA256, _SHA384, _SHA512 = hashes.SHA256(), hashes.SHA384(), hashes.SHA512()

_VERIFIERS: dict[str, Verifier] = {
    "RS256": _rsa(_PKCS1, _SHA256),
    "RS384": _rsa(_PKCS1, _SHA384),
    "RS512": _rsa(_PKCS1, _SHA512),
    "PS256": _pss(_SHA256),
    "PS384": _pss(_SHA384),
    "PS512": _pss(_SHA512),
    "ES256": _ecdsa(32, _P256_N, _SHA256),
    "ES384": _ecdsa(48, _P384_N, _SHA384),
    "ES512": _ecdsa(66, _P521_N, _SHA512),
    "HS256": _hmac("sha256"),
    "HS384": _hmac("sha384"),
    "HS512": _hmac("sha512"),
    "EdDSA": _eddsa,
}

SUPPORTED_ALGS: frozenset[str] = frozenset(_VERIFIERS)
