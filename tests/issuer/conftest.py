"""Shared keys and JWKS-only verifiers for the token-issuing tests.

Verification deliberately uses nothing but the JWKS document produced by ``jwks_document`` and two
independent libraries (PyJWT, jwcrypto): that is what a relying party has.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk as jwc_jwk
from jwcrypto import jwt as jwc_jwt

RSA_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
EC_ALGS = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
ASYM_ALGS = RSA_ALGS + list(EC_ALGS) + ["EdDSA"]


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def rsa_key2() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    return {alg: ec.generate_private_key(curve()) for alg, curve in EC_ALGS.items()}


@pytest.fixture(scope="session")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def key_for(rsa_key, ec_keys, ed_key) -> Callable[[str], Any]:
    def pick(alg: str):
        if alg in EC_ALGS:
            return ec_keys[alg]
        if alg == "EdDSA":
            return ed_key
        return rsa_key

    return pick


def _pyjwt_verify(token: str, jwks: dict, alg: str, **kwargs: Any) -> dict:
    kid = pyjwt.get_unverified_header(token)["kid"]
    keys = {k.key_id: k for k in pyjwt.PyJWKSet.from_dict(jwks).keys}
    if kid not in keys:
        raise LookupError(f"kid {kid} not in JWKS")
    return pyjwt.decode(token, key=keys[kid].key, algorithms=[alg], **kwargs)


def _jwcrypto_verify(token: str, jwks: dict, alg: str, check_claims: dict | None = None) -> dict:
    keyset = jwc_jwk.JWKSet.from_json(json.dumps(jwks))
    verified = jwc_jwt.JWT(jwt=token, key=keyset, algs=[alg], check_claims=check_claims)
    return json.loads(verified.claims)


@pytest.fixture(scope="session")
def pyjwt_verify() -> Callable[..., dict]:
    return _pyjwt_verify


@pytest.fixture(scope="session")
def jwcrypto_verify() -> Callable[..., dict]:
    return _jwcrypto_verify
