"""keys/publish.py: JWK members, real JWA alg names, RFC 7638 thumbprints."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from jwcrypto import jwk as jwc_jwk

from microgw.keys.publish import jwk_thumbprint, jwks_document, public_jwk
from microgw.keys.signing import SigningKey, SigningKeyring
from microgw.jose.b64 import b64url_decode


def test_rsa_jwk(rsa_key):
    jwk = public_jwk(rsa_key.public_key(), "kid-1", "RS256")
    assert jwk["kty"] == "RSA" and jwk["e"] == "AQAB" and jwk["use"] == "sig"
    assert jwk["kid"] == "kid-1" and jwk["alg"] == "RS256"
    assert int.from_bytes(b64url_decode(jwk["n"]), "big") == rsa_key.public_key().public_numbers().n
    assert set(jwk) == {"kty", "use", "kid", "alg", "n", "e"}


@pytest.mark.parametrize("alg,crv,size", [("ES256", "P-256", 32), ("ES384", "P-384", 48), ("ES512", "P-521", 66)])
def test_ec_jwk(alg, crv, size, ec_keys):
    jwk = public_jwk(ec_keys[alg], "k", alg)  # private key accepted, reduced to public
    assert jwk["kty"] == "EC" and jwk["crv"] == crv and jwk["alg"] == alg
    assert len(b64url_decode(jwk["x"])) == size == len(b64url_decode(jwk["y"]))
    assert "d" not in jwk


def test_okp_jwk(ed_key):
    jwk = public_jwk(ed_key.public_key(), "k", "EdDSA")
    assert {k: jwk[k] for k in ("kty", "crv", "alg")} == {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA"}
    assert len(b64url_decode(jwk["x"])) == 32 and "d" not in jwk
    ed448_jwk = public_jwk(ed448.Ed448PrivateKey.generate(), "k", "EdDSA")
    assert ed448_jwk["crv"] == "Ed448"


@pytest.mark.parametrize("alg", ["RSA", "ES256", "HS256", "EdDSA", "none"])
def test_alg_that_does_not_fit_refused(alg, rsa_key):
    with pytest.raises(ValueError):
        public_jwk(rsa_key.public_key(), "k", alg)


def test_secrets_and_odd_curves_are_not_published():
    with pytest.raises(ValueError):
        public_jwk(b"secret" * 8, "k", "HS256")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        public_jwk(ec.generate_private_key(ec.SECP256K1()).public_key(), "k", "ES256")


def test_thumbprint_matches_jwcrypto(rsa_key, ec_keys, ed_key):
    for key in (rsa_key, ec_keys["ES256"], ec_keys["ES512"], ed_key):
        theirs = jwc_jwk.JWK.from_pyca(key.public_key()).thumbprint()
        assert jwk_thumbprint(key) == jwk_thumbprint(key.public_key()) == theirs


def test_rfc7638_example_vector():
    """The RSA key of RFC 7638 §3.1 has thumbprint NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
        "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5"
        "hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    pub = rsa.RSAPublicNumbers(65537, int.from_bytes(b64url_decode(n), "big")).public_key()
    assert jwk_thumbprint(pub) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_jwks_document_lists_published_keys_newest_first(rsa_key, rsa_key2, ed_key):
    t = lambda s: datetime.fromtimestamp(s, timezone.utc)  # noqa: E731
    old = SigningKey.from_private_key(rsa_key, "RS256", created_at=t(1))
    new = SigningKey.from_private_key(ed_key, created_at=t(3))
    gone = SigningKey(jwk_thumbprint(rsa_key2), rsa_key2, "PS256", t(2), retired=True)
    doc = jwks_document(SigningKeyring([old, gone, new]))
    assert [k["kid"] for k in doc["keys"]] == [new.kid, old.kid]
    assert [k["alg"] for k in doc["keys"]] == ["EdDSA", "RS256"]
    jwc_jwk.JWKSet.from_json(json.dumps(doc))  # a standard library accepts it
