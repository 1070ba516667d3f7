"""jose/sign.py: every algorithm verifies with independent libraries; misfit keys are refused."""

from __future__ import annotations

import json

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from microgw.keys.publish import jwks_document, public_jwk
from microgw.jose.b64 import b64url_decode
from microgw.jose.sign import JwsSigner, sign_jwt


CLAIMS = {"sub": "alice", "n": 1, "nested": {"a": [1, 2, "ü"]}}


class _Ring:
    def __init__(self, key, kid, alg):
        self.published = [type("K", (), {"private_key": key, "kid": kid, "alg": alg})()]


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"])
def test_asymmetric_algorithms_verify_with_jwks(alg, key_for, pyjwt_verify, jwcrypto_verify):
    key = key_for(alg)
    token = sign_jwt(CLAIMS, key, alg, kid="k1")
    jwks = jwks_document(_Ring(key, "k1", alg))
    assert pyjwt_verify(token, jwks, alg) == CLAIMS
    assert jwcrypto_verify(token, jwks, alg) == CLAIMS


@pytest.mark.parametrize("alg,size", [("ES256", 32), ("ES384", 48), ("ES512", 66)])
def test_ecdsa_signature_is_raw_r_s_of_curve_length(alg, size, ec_keys):
    token = sign_jwt(CLAIMS, ec_keys[alg], alg, kid=None)
    assert len(b64url_decode(token.split(".")[2])) == 2 * size


@pytest.mark.parametrize("alg,length", [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_algorithms(alg, length):
    secret = bytes(range(length))
    token = sign_jwt(CLAIMS, secret, alg, kid="s")
    assert pyjwt.decode(token, secret, algorithms=[alg]) == CLAIMS


def test_header_and_compact_json(rsa_key):
    token = sign_jwt({"b": 1, "a": "x y"}, rsa_key, "RS256", kid="abc", extra_header={"cty": "x"})
    header_b64, payload_b64, _ = token.split(".")
    assert json.loads(b64url_decode(header_b64)) == {"alg": "RS256", "kid": "abc", "typ": "JWT", "cty": "x"}
    assert b64url_decode(payload_b64) == b'{"b":1,"a":"x y"}'
    assert "=" not in token


def test_no_kid_leaves_kid_out(ed_key):
    header = pyjwt.get_unverified_header(sign_jwt({}, ed_key, "EdDSA", kid=None))
    assert header == {"alg": "EdDSA", "typ": "JWT"}


def test_signer_reuse_gives_independent_tokens(rsa_key, pyjwt_verify):
    signer = JwsSigner(rsa_key, "PS256", kid="k")
    jwks = {"keys": [public_jwk(rsa_key.public_key(), "k", "PS256")]}
    for i in range(3):
        assert pyjwt_verify(signer.sign({"i": i}), jwks, "PS256") == {"i": i}


@pytest.mark.parametrize(
    "alg,make_key",
    [
        ("ES256", lambda k: k["rsa"]),  # RSA key for ECDSA
        ("RS256", lambda k: k["ec"]),  # EC key for RSA
        ("ES384", lambda k: k["ec"]),  # P-256 key for ES384
        ("EdDSA", lambda k: k["rsa"]),
        ("RS256", lambda k: k["ed"]),
        ("HS256", lambda k: k["rsa"]),  # asymmetric key as HMAC secret
        ("RS256", lambda k: b"0" * 64),  # secret for RSA
        ("HS256", lambda k: b"short"),  # below the hash length
        ("HS512", lambda k: b"x" * 32),
        ("RS256", lambda k: k["rsa"].public_key()),  # public key cannot sign
        ("none", lambda k: k["rsa"]),
        ("rs256", lambda k: k["rsa"]),
    ],
)
def test_key_that_does_not_fit_is_refused(alg, make_key, rsa_key, ec_keys, ed_key):
    keys = {"rsa": rsa_key, "ec": ec_keys["ES256"], "ed": ed_key}
    with pytest.raises(ValueError):
        sign_jwt({}, make_key(keys), alg, kid="k")


def test_small_rsa_key_refused():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="too small"):
        JwsSigner(small, "RS256")


@pytest.mark.parametrize("member", ["alg", "kid", "typ", "jwk", "jku", "x5u", "x5c", "crit"])
def test_extra_header_cannot_override_protected_members(member, rsa_key):
    with pytest.raises(ValueError):
        sign_jwt({}, rsa_key, "RS256", kid="k", extra_header={member: "x"})


def test_non_json_claims_refused(ed_key):
    with pytest.raises(ValueError):
        sign_jwt({"x": {1, 2}}, ed_key, "EdDSA", kid=None)
    with pytest.raises(ValueError):
        sign_jwt({"x": float("nan")}, ed_key, "EdDSA", kid=None)


def test_other_ec_curve_refused():
    key = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(ValueError):
        JwsSigner(key, "ES256")


def test_ed25519_signature_is_deterministic(ed_key):
    assert sign_jwt({"a": 1}, ed_key, "EdDSA", kid="k") == sign_jwt({"a": 1}, ed_key, "EdDSA", kid="k")
    assert isinstance(ed_key, ed25519.Ed25519PrivateKey)
