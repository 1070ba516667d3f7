"""Test kit for the keys and tokens rooms: keys, independent token minting, a real JWKS server.

Tokens are minted with PyJWT or jwcrypto (independent of microgw), or assembled by hand from raw
`cryptography` signatures for malformed and attack tokens. The JWKS server is a real aiohttp server on
loopback whose behaviour a test changes while it runs (document, status, delay, redirect); it is the
suite's one IdP/JWKS server, tests/support/idp.py, re-exported here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from functools import lru_cache
from typing import Any, Callable

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwcrypto import jwk as jwc_jwk


ISSUER = "https://idp.example.test/realms/demo"
HMAC_SECRET = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"  # 64 bytes: fits HS512


# --- keys ------------------------------------------------------------------------------------------


def rsa_key(name: str = "a", bits: int = 2048) -> rsa.RSAPrivateKey:
    """RSA keys are slow to make: one per (name, size) for the whole run."""
    return _make("rsa", name, bits)


def ec_key(curve: str = "P-256", name: str = "a") -> ec.EllipticCurvePrivateKey:
    return _make(curve, name)


def ed_key(name: str = "a") -> ed25519.Ed25519PrivateKey:
    return _make("Ed25519", name)


def ed448_key(name: str = "a") -> ed448.Ed448PrivateKey:
    return _make("Ed448", name)


@lru_cache(maxsize=None)
def _make(kind: str, name: str, bits: int = 2048) -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "Ed448":
        return ed448.Ed448PrivateKey.generate()
    return ec.generate_private_key({"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[kind])


def private_key_for(alg: str, name: str = "a") -> Any:
    """A signing key fitting ``alg`` (bytes for HS*)."""
    if alg.startswith(("RS", "PS")):
        return rsa_key(name)
    if alg.startswith("ES"):
        return ec_key({"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg], name)
    if alg == "EdDSA":
        return ed_key(name)
    if alg.startswith("HS"):
        return HMAC_SECRET if name == "a" else HMAC_SECRET + name.encode()
    raise ValueError(alg)


def public_of(key: Any) -> Any:
    return key if isinstance(key, bytes) else key.public_key()


# --- claims and minting ----------------------------------------------------------------------------


def claims(now: float | None = None, **extra: Any) -> dict[str, Any]:
    """Typical access-token claims valid for an hour around ``now``; ``None`` values are removed."""
    t = int(time.time() if now is None else now)
    base: dict[str, Any] = {"iss": ISSUER, "sub": "user-1", "aud": "orders", "iat": t, "nbf": t, "exp": t + 3600}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def mint(alg: str, claim_set: dict[str, Any] | None = None, *, key: Any = None, kid: str | None = "k1", headers: dict | None = None) -> str:
    """A token minted by PyJWT."""
    hdr = dict(headers or {})
    if kid is not None:
        hdr["kid"] = kid
    return pyjwt.encode(claim_set if claim_set is not None else claims(), key if key is not None else private_key_for(alg), algorithm=alg, headers=hdr)


def mint_jwcrypto(alg: str, claim_set: dict[str, Any], key: Any, kid: str | None = "k1") -> str:
    """A token minted by jwcrypto (a second, independent implementation)."""
    from jwcrypto import jwt as jwc_jwt

    if isinstance(key, bytes):
        jwk = jwc_jwk.JWK(kty="oct", k=b64url(key))
    else:
        jwk = jwc_jwk.JWK.from_pyca(key)
    header = {"alg": alg}
    if kid is not None:
        header["kid"] = kid
    token = jwc_jwt.JWT(header=header, claims=claim_set)
    token.make_signed_token(jwk)
    return token.serialize()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    """A header/payload segment from a dict (compact JSON), raw bytes or already-encoded str."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return b64url(value)
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def assemble(header: Any, payload: Any, signature: bytes | str = b"") -> str:
    """A compact token from parts, unsigned: for malformed and attack tokens."""
    sig = signature if isinstance(signature, str) else b64url(signature)
    return f"{segment(header)}.{segment(payload)}.{sig}"


def raw_sign(alg: str, key: Any, signing_input: bytes) -> bytes:
    """A JWS signature computed straight with `cryptography` / hmac (ECDSA as raw r||s)."""
    import hmac

    h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}.get(alg[-3:])
    if alg.startswith("HS"):
        return hmac.new(key, signing_input, {"256": "sha256", "384": "sha384", "512": "sha512"}[alg[-3:]]).digest()
    if alg.startswith("RS"):
        return key.sign(signing_input, padding.PKCS1v15(), h)
    if alg.startswith("PS"):
        return key.sign(signing_input, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    if alg.startswith("ES"):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(h)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg == "EdDSA":
        return key.sign(signing_input)
    raise ValueError(alg)


def signed(header: dict, payload: Any, key: Any) -> str:
    """A token with arbitrary header/payload, correctly signed with ``key`` for ``header['alg']``."""
    head = f"{segment(header)}.{segment(payload)}"
    return f"{head}.{b64url(raw_sign(header['alg'], key, head.encode()))}"


# --- JWKs ------------------------------------------------------------------------------------------


def jwk_of(key: Any, kid: str | None = None, **extra: Any) -> dict[str, Any]:
    """The public JWK of a key, exported by jwcrypto (``oct`` for bytes)."""
    if isinstance(key, bytes):
        out: dict[str, Any] = {"kty": "oct", "k": b64url(key)}
    else:
        out = jwc_jwk.JWK.from_pyca(public_of(key) if hasattr(key, "public_key") else key).export_public(as_dict=True)
        out.pop("kid", None)
    if kid is not None:
        out["kid"] = kid
    out.update(extra)
    return out


def jwks(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"keys": list(entries)}


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds (no blind sleeps)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
