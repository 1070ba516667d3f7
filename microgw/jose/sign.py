"""Compact JWS signing (RFC 7515) for the tokens this gateway mints.

A :class:`JwsSigner` binds one key to one algorithm and precomputes everything that does not depend
on the claims (the encoded protected header, the padding and hash objects), so issuing a token costs
one ``json.dumps``, two base64 encodings and the signature itself. :func:`sign_jwt` is the one-shot
form for callers that sign rarely.

Keys are refused when they do not fit the algorithm (ValueError): RSA (>= 2048 bits) for RS*/PS*,
an EC key on the matching curve for ES*, Ed25519/Ed448 for EdDSA, and bytes of at least the hash
length (RFC 7518 §3.2) for HS*.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any, Union

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .b64 import b64url_encode

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey]
SigningKeyMaterial = Union[PrivateKey, bytes]

MIN_RSA_BITS = 2048

_SHA = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
_HASHLIB = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
_PKCS1 = padding.PKCS1v15()
# RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
_PSS = {bits: padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size) for bits, h in _SHA.items()}
_ECDSA = {bits: ec.ECDSA(h) for bits, h in _SHA.items()}
_EC_CURVE = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}

SUPPORTED_ALGS = frozenset(
    {f"{family}{bits}" for family in ("RS", "PS", "ES", "HS") for bits in ("256", "384", "512")} | {"EdDSA"}
)
# Header members the caller may not override through ``extra_header``: they are set from the
# signer's own arguments, and ``jwk``/``jku``/``x5u``/``x5c`` would invite verifiers to trust keys
# carried by the token.
_PROTECTED_MEMBERS = frozenset({"alg", "kid", "typ", "jwk", "jku", "x5u", "x5c", "crit"})

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _encode_json(obj: Mapping[str, Any]) -> bytes:
    try:
        return _dumps(obj).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON-serialisable: {exc}") from exc


def _signature_function(key: SigningKeyMaterial, alg: str) -> Callable[[bytes], bytes]:
    """Return ``sign(signing_input) -> signature`` for a key that fits ``alg``; ValueError otherwise."""
    if alg not in SUPPORTED_ALGS:
        raise ValueError(f"unsupported algorithm {alg!r}")
    family, bits = alg[:2], alg[2:]
    if family in ("RS", "PS"):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{alg} needs an RSA private key")
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA key of {key.key_size} bits is too small (minimum {MIN_RSA_BITS})")
        pad = _PKCS1 if family == "RS" else _PSS[bits]
        digest = _SHA[bits]
        return lambda data: key.sign(data, pad, digest)
    if family == "ES":
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != _EC_CURVE[alg]:
            raise ValueError(f"{alg} needs an EC private key on {_EC_CURVE[alg]}")
        size = (key.curve.key_size + 7) // 8
        algorithm = _ECDSA[bits]

        def sign_ec(data: bytes) -> bytes:
            # JWS wants r||s, each left-padded to the curve size, not the DER that OpenSSL returns.
            r, s = decode_dss_signature(key.sign(data, algorithm))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return sign_ec
    if family == "HS":
        if not isinstance(key, (bytes, bytearray)):
            raise ValueError(f"{alg} needs a shared secret (bytes)")
        secret = bytes(key)
        hash_factory = _HASHLIB[bits]
        if len(secret) < hash_factory().digest_size:
            raise ValueError(f"{alg} secret must be at least {hash_factory().digest_size} bytes")
        return lambda data: hmac.new(secret, data, hash_factory).digest()
    # EdDSA
    if not isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        raise ValueError("EdDSA needs an Ed25519 or Ed448 private key")
    return key.sign


class JwsSigner:
    """One key, one algorithm, one protected header: signs claim sets into compact JWS strings."""

    __slots__ = ("alg", "kid", "_prefix", "_sign")

    def __init__(
        self,
        key: SigningKeyMaterial,
        alg: str,
        *,
        kid: str | None = None,
        typ: str | None = "JWT",
        extra_header: Mapping[str, Any] | None = None,
    ) -> None:
        self._sign = _signature_function(key, alg)
        self.alg = alg
        self.kid = kid
        header: dict[str, Any] = {"alg": alg}
        if kid is not None:
            header["kid"] = kid
        if typ is not None:
            header["typ"] = typ
        if extra_header:
            clash = _PROTECTED_MEMBERS.intersection(extra_header)
            if clash:
                raise ValueError(f"extra_header may not set {sorted(clash)}")
            header.update(extra_header)
        self._prefix = b64url_encode(_encode_json(header)) + "."

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Serialise ``claims`` compactly and return ``header.payload.signature``."""
        signing_input = self._prefix + b64url_encode(_encode_json(claims))
        return signing_input + "." + b64url_encode(self._sign(signing_input.encode("ascii")))


def sign_jwt(
    claims: Mapping[str, Any],
    key: SigningKeyMaterial,
    alg: str,
    *,
    kid: str | None,
    typ: str = "JWT",
    extra_header: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``claims`` once. Repeated signing with one key should keep a :class:`JwsSigner` instead."""
    return JwsSigner(key, alg, kid=kid, typ=typ, extra_header=extra_header).sign(claims)
