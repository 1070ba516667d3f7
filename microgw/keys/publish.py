"""Public JWKs and the JWKS document of the gateway's signing keys (RFC 7517, RFC 7518 §6, RFC 8037).

The vendor publishes ``"alg": "RSA"``, which is not a JWA name; standard clients (PyJWT, jwcrypto,
Envoy) either ignore such a key or fail. We always publish the algorithm the key really signs with
(``RS256``, ``ES384``, ``EdDSA``, ...) and ``use: "sig"``. Shared secrets are never published.

:func:`jwk_thumbprint` (RFC 7638) gives a stable, content-derived ``kid``: the same public key always
gets the same kid, on every node and after every restart, without any registry of names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from microgw.jose.b64 import b64url_encode
from microgw.jose.sign import PrivateKey

from .model import PublicKey, algorithms_for

_CRV = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _uint(value: int) -> str:
    """Unsigned big-endian integer, minimal length (RFC 7518 §2 Base64urlUInt)."""
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _public(key: PublicKey | PrivateKey) -> PublicKey:
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return key.public_key()
    return key


def key_members(key: PublicKey | PrivateKey) -> dict[str, str]:
    """The required public members of the key's JWK (exactly those RFC 7638 hashes)."""
    pub = _public(key)
    if isinstance(pub, rsa.RSAPublicKey):
        numbers = pub.public_numbers()
        return {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        crv = _CRV.get(pub.curve.name)
        if crv is None:
            raise ValueError(f"EC curve {pub.curve.name} has no JWA name")
        size = (pub.curve.key_size + 7) // 8
        numbers = pub.public_numbers()
        return {
            "crv": crv,
            "kty": "EC",
            "x": b64url_encode(numbers.x.to_bytes(size, "big")),
            "y": b64url_encode(numbers.y.to_bytes(size, "big")),
        }
    if isinstance(pub, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        crv = "Ed25519" if isinstance(pub, ed25519.Ed25519PublicKey) else "Ed448"
        return {"crv": crv, "kty": "OKP", "x": b64url_encode(pub.public_bytes(Encoding.Raw, PublicFormat.Raw))}
    raise ValueError("only RSA, EC and EdDSA public keys can be published")


def jwk_thumbprint(key: PublicKey | PrivateKey) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url: the kid scheme of the gateway's own keys."""
    canonical = json.dumps(key_members(key), separators=(",", ":"), sort_keys=True).encode("utf-8")
    return b64url_encode(hashlib.sha256(canonical).digest())


def public_jwk(public_key: PublicKey | PrivateKey, kid: str, alg: str) -> dict[str, str]:
    """The JWK a verifier needs: key members plus ``use: sig``, ``kid`` and the real JWA ``alg``.

    A private key is accepted and reduced to its public half; ValueError when ``alg`` does not fit.
    """
    pub = _public(public_key)
    if alg not in algorithms_for(pub):
        raise ValueError(f"algorithm {alg!r} does not fit this key")
    members = key_members(pub)
    return {"kty": members.pop("kty"), "use": "sig", "kid": kid, "alg": alg, **members}


class _PublishedKey(Protocol):
    kid: str
    alg: str
    private_key: PrivateKey


class _Keyring(Protocol):
    @property
    def published(self) -> Iterable[_PublishedKey]: ...


def jwks_document(keyring: _Keyring) -> dict[str, list[dict[str, str]]]:
    """``{"keys": [...]}`` of every non-retired key of the keyring, newest first."""
    return {"keys": [public_jwk(k.private_key, k.kid, k.alg) for k in keyring.published]}
