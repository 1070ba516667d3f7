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
* Anything that is not unpadded base64url, with the rules of :func:`microgw.jose.b64.b64url_decode`
  (implemented as one translate + strict ``a2b_base64``, because its regex pass costs µs per token;
  a property test checks that both agree); non-ASCII tokens; tokens longer than ``max_length``.
* Header or claims that are not UTF-8 JSON objects, the JSON constants ``NaN``/``Infinity`` and
  numbers that overflow to infinity, lone surrogate escapes, nesting deeper than
  :data:`MAX_JSON_DEPTH`.
* ECDSA signatures that are not raw ``r||s`` of exactly the curve's size (DER is refused), or whose
  ``r`` or ``s`` is 0 or >= the curve order (CVE-2022-21449 "psychic signatures").

Duplicate member names in the header or claims are accepted and the last one wins, as RFC 7515 §4 and
RFC 7519 §4 permit; rejecting them needs a Python hook per JSON object, which costs more than every
other check here together. The signature still covers the exact bytes, so only the issuer can make such
a token.

JSON is decoded by ``orjson`` when it is installed (3x faster on token-sized payloads, the biggest
single cost after the signature) and otherwise by a strict configuration of the standard library;
both refuse the same inputs (tests run both). Headers are memoized (an issuer sends the same few), so
a header is decoded and checked once and then shared read-only.
"""

from __future__ import annotations

import hmac
import json
from binascii import a2b_base64
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Callable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from microgw.config.security import DEFAULT_MAX_TOKEN_LENGTH
from microgw.errors import TokenError
from microgw.keys.model import VerifyKey

__all__ = ["ParsedToken", "parse", "verify_signature", "SUPPORTED_ALGS"]

HEADER_CACHE_SIZE = 256
MAX_JSON_DEPTH = 32  # real claims nest 2-3 levels; deeper JSON would only burden later stages

# base64url -> standard alphabet for binascii; the standard-only characters and "=" become "!",
# which strict decoding refuses, so one translate + strict a2b == b64.b64url_decode, minus a regex pass.
_TO_STD = bytearray(range(256))
_TO_STD[ord("+")] = _TO_STD[ord("/")] = _TO_STD[ord("=")] = ord("!")
_TO_STD[ord("-")], _TO_STD[ord("_")] = ord("+"), ord("/")
_TO_STD = bytes(_TO_STD)
_PAD = (b"", None, b"==", b"=")  # by len % 4; a remainder of 1 is impossible base64
_REFUSED_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})


def _no_json_constants(name: str) -> Any:
    raise ValueError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf or nan ("1e400" overflows to inf)
        raise ValueError("number out of range")
    return value


_stdlib_decode = json.JSONDecoder(parse_constant=_no_json_constants, parse_float=_finite_float).decode


def _stdlib_json(data: bytes) -> Any:
    """Strict JSON with the standard library, refusing what orjson refuses.

    UTF-8 only; no NaN/Infinity and no number that overflows to infinity (every time comparison with
    NaN is False: a token that never expires); no lone surrogate escapes (the claim could not be
    re-encoded when forwarded upstream). Integers stay exact (orjson turns those beyond 64 bits into
    floats; both are finite, so the time checks agree).
    """
    text = data.decode("utf-8")
    value = _stdlib_decode(text)
    if "\\ud" in text or "\\uD" in text:  # rare: only then look for unpaired surrogates
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError is a ValueError
    return value


try:  # optional accelerator: ~3x faster on token-sized JSON, the same refusals (see tests/tokens)
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - depends on the environment
    _orjson_loads = None

_json_loads: Callable[[bytes], Any] = _orjson_loads or _stdlib_json


@dataclass(slots=True)
class ParsedToken:
    """A syntactically valid JWS whose signature has NOT been checked yet.

    ``header`` is a read-only view shared by every token with the same header text (it is memoized).
    """

    header: Mapping[str, Any]
    claims: dict[str, Any]
    alg: str
    kid: str | None
    signing_input: bytes
    signature: bytes


def _b64(std: bytes) -> bytes:
    """Decode one segment already passed through ``_TO_STD``; the rules of b64.b64url_decode."""
    pad = _PAD[len(std) & 3]
    if pad is None:
        raise TokenError("malformed token")
    try:
        return a2b_base64(std + pad, strict_mode=True)
    except ValueError:  # binascii.Error
        raise TokenError("malformed token") from None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = _json_loads(data)
    except ValueError as exc:  # JSONDecodeError, UnicodeError, int too long, NaN
        raise TokenError(f"token {what} is {_json_problem(exc)}") from None
    except RecursionError:  # the stdlib engine, far beyond MAX_JSON_DEPTH
        raise TokenError(f"token {what} is nested too deeply") from None
    if type(value) is not dict:
        raise TokenError(f"token {what} is not a JSON object")
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH and _too_deep(value):
        raise TokenError(f"token {what} is nested too deeply")
    return value


def _json_problem(exc: ValueError) -> str:
    """Newer orjson refuses deep nesting itself ("depth limit exceeded"); say so as the stdlib path does."""
    text = str(exc).lower()
    return "nested too deeply" if "recursion" in text or "depth" in text else "not valid JSON"


def _too_deep(value: Any) -> bool:
    """Nesting beyond MAX_JSON_DEPTH (the top object is level 1). Iterative: no recursion limit.

    Both JSON engines then refuse the same documents (orjson alone would accept any depth), and
    later stages that walk claims never meet a structure that exhausts the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        if type(item) is dict:
            stack.extend((child, depth + 1) for child in item.values())
        elif type(item) is list:
            stack.extend((child, depth + 1) for child in item)
    return False


@lru_cache(maxsize=HEADER_CACHE_SIZE)
def _header(segment: bytes) -> tuple[Mapping[str, Any], str, str | None]:
    """Decode and check a header segment. Memoized: an issuer sends the same few headers all day,
    and exceptions are not cached, so only headers that passed every check are remembered."""
    header = _json_object(_b64(segment.translate(_TO_STD)), "header")
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
    return MappingProxyType(header), alg, kid  # shared by every token with this header: read-only


def parse(token: str, max_length: int = DEFAULT_MAX_TOKEN_LENGTH) -> ParsedToken:
    """Split, decode and sanity-check a compact JWS; see the module docstring for what is refused."""
    if type(token) is not str:
        raise TokenError("malformed token")
    if len(token) > max_length:
        raise TokenError("token too large")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise TokenError("malformed token") from None
    dot1 = raw.find(b".")
    dot2 = raw.find(b".", dot1 + 1)
    if dot1 < 0 or dot2 < 0 or raw.find(b".", dot2 + 1) >= 0:
        raise TokenError("encrypted tokens (JWE) are not accepted" if raw.count(b".") == 4 else "malformed token")
    header, alg, kid = _header(raw[:dot1])
    # Payload and signature: _b64 and _json_object inlined (this runs for every uncached token).
    std = raw.translate(_TO_STD)
    payload = std[dot1 + 1 : dot2]
    sig = std[dot2 + 1 :]
    payload_pad = _PAD[len(payload) & 3]
    sig_pad = _PAD[len(sig) & 3]
    if payload_pad is None or sig_pad is None:
        raise TokenError("malformed token")
    try:
        payload = a2b_base64(payload + payload_pad, strict_mode=True)
        signature = a2b_base64(sig + sig_pad, strict_mode=True)
    except ValueError:  # binascii.Error
        raise TokenError("malformed token") from None
    try:
        claims = _json_loads(payload)
    except ValueError as exc:
        raise TokenError(f"token claims are {_json_problem(exc)}") from None
    except RecursionError:
        raise TokenError("token claims are nested too deeply") from None
    if type(claims) is not dict:
        raise TokenError("token claims are not a JSON object")
    if payload.count(b"[") + payload.count(b"{") > MAX_JSON_DEPTH and _too_deep(claims):
        raise TokenError("token claims are nested too deeply")
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


class _KeyType:
    """``isinstance(key, abcs)`` memoized by concrete type: the ABC check costs ~1 µs per call,
    a set lookup ~50 ns. ``known`` only ever holds classes that passed the real check."""

    __slots__ = ("abcs", "known")

    def __init__(self, *abcs: type) -> None:
        self.abcs = abcs
        self.known: set[type] = set()

    def slow_check(self, key: Any) -> bool:
        if isinstance(key, self.abcs):
            self.known.add(type(key))
            return True
        return False


_RSA = _KeyType(rsa.RSAPublicKey)
_EC = _KeyType(ec.EllipticCurvePublicKey)
_OKP = _KeyType(ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)


def _rsa(pad: padding.AsymmetricPadding, hash_: hashes.HashAlgorithm) -> Verifier:
    known = _RSA.known

    def verify(key: Any, data: bytes, sig: bytes) -> None:
        if type(key) not in known and not _RSA.slow_check(key):
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
    known = _EC.known

    def verify(key: Any, data: bytes, sig: bytes) -> None:
        if type(key) not in known and not _EC.slow_check(key):
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
    if type(key) not in _OKP.known and not _OKP.slow_check(key):
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
