"""keys.jwks: which JWKs become verification keys, with which algorithms, and what is skipped."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from jwtkit import b64url, claims, ec_key, ed_key, jwk_of, jwks, mint, rsa_key

from microgw.errors import TokenError
from microgw.keys.jwks import JwksError, parse_jwks
from microgw.jose.algorithms import EDDSA_ALGS, HMAC_ALGS, RSA_ALGS
from microgw.tokens.verify import parse, verify_signature


def key_named(make, name):
    """A different key of the same kind as ``make()``."""
    return make(name=name)


def load(*entries, **kw):
    return parse_jwks(json.dumps(jwks(*entries)).encode(), **kw)


def test_every_key_type_becomes_a_verify_key():
    keys = load(
        jwk_of(rsa_key(), "rsa"),
        jwk_of(ec_key("P-256"), "p256"),
        jwk_of(ec_key("P-384"), "p384"),
        jwk_of(ec_key("P-521"), "p521"),
        jwk_of(ed_key(), "ed"),
        source="jwks test",
    )
    algs = {k.kid: k.algs for k in keys}
    assert algs == {
        "rsa": RSA_ALGS, "p256": frozenset({"ES256"}), "p384": frozenset({"ES384"}), "p521": frozenset({"ES512"}), "ed": EDDSA_ALGS,
    }
    assert isinstance(keys[0].key, rsa.RSAPublicKey) and isinstance(keys[1].key, ec.EllipticCurvePublicKey)
    assert isinstance(keys[4].key, ed25519.Ed25519PublicKey)
    assert {k.source for k in keys} == {"jwks test"}


@pytest.mark.parametrize("alg, key", [("RS256", rsa_key), ("ES256", ec_key), ("EdDSA", ed_key)])
def test_jwks_keys_verify_tokens_minted_elsewhere(alg, key):
    (vk,) = load(jwk_of(key(), "k1"))
    assert vk.kid == "k1" and alg in vk.algs
    verify_signature(parse(mint(alg, claims(), key=key())), vk)  # minted by PyJWT: accepted
    with pytest.raises(TokenError, match="invalid signature"):  # another key of the same type: refused
        verify_signature(parse(mint(alg, claims(), key=key_named(key, "other"))), vk)


def test_jwk_alg_pins_the_algorithm():
    (vk,) = load(jwk_of(rsa_key(), "k", alg="PS256"))
    assert vk.algs == frozenset({"PS256"})


def test_allowed_algs_intersect_with_the_jwk_alg():
    assert load(jwk_of(rsa_key(), "k", alg="RS256"), allowed_algs={"PS256"}) == []
    (vk,) = load(jwk_of(rsa_key(), "k"), allowed_algs={"RS256", "ES256"})
    assert vk.algs == frozenset({"RS256"})


def test_vendor_alg_rsa_is_treated_as_absent():
    """The vendor's JWKS says "alg": "RSA" (not a JWA name): the key stays pinned to RSA algorithms."""
    (vk,) = load(jwk_of(rsa_key(), "ssos", alg="RSA", use="sig"))
    assert vk.algs == RSA_ALGS


def test_jwk_alg_of_another_family_leaves_nothing():
    assert load(jwk_of(rsa_key(), "k", alg="HS256")) == []
    assert load(jwk_of(rsa_key(), "k", alg="none")) == []


def test_symmetric_keys_only_when_allowed():
    secret = jwk_of(b"s" * 32, "hmac")
    assert load(secret) == []
    (vk,) = load(secret, allow_oct=True)
    assert vk.key == b"s" * 32 and vk.algs == HMAC_ALGS
    (vk,) = load({**secret, "alg": "HS384"}, allow_oct=True)
    assert vk.algs == frozenset({"HS384"})
    assert load({"kty": "oct", "k": ""}, allow_oct=True) == []


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "tiny"}, id="rsa-too-small"),
        pytest.param({"kty": "RSA", "e": "AQAB", "kid": "no-n"}, id="rsa-missing-n"),
        pytest.param({"kty": "RSA", "n": "!!!", "e": "AQAB"}, id="rsa-bad-base64"),
        pytest.param({"kty": "RSA", "n": 12, "e": "AQAB"}, id="rsa-n-not-string"),
        pytest.param({"kty": "EC", "crv": "P-256", "x": b64url(b"\x01" * 32), "y": b64url(b"\x02" * 32)}, id="ec-off-curve"),
        pytest.param({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}, id="ec-unsupported-curve"),
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": b64url(b"\x01" * 31)}, id="okp-short"),
        pytest.param({"kty": "OKP", "crv": "X25519", "x": b64url(b"\x09" * 32)}, id="okp-x25519"),
        pytest.param({"kty": "PQC", "kid": "future"}, id="unknown-kty"),
        pytest.param({"kid": "no-kty"}, id="no-kty"),
        pytest.param("not an object", id="not-object"),
        pytest.param(None, id="null"),
    ],
)
def test_unusable_keys_are_skipped_not_fatal(entry):
    good = jwk_of(rsa_key(), "good")
    keys = load(entry, good)
    assert [k.kid for k in keys] == ["good"]


def test_weak_rsa_key_is_skipped():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert load(jwk_of(weak, "weak")) == []


def test_ec_coordinates_must_have_full_length():
    entry = jwk_of(ec_key(), "k")
    entry["x"] = b64url(b"\x00" + bytes.fromhex("ff" * 30))
    assert load(entry) == []


@pytest.mark.parametrize(
    "extra",
    [{"use": "enc"}, {"key_ops": ["encrypt"]}, {"key_ops": "verify"}, {"kid": 5}, {"alg": 256}],
)
def test_keys_not_meant_for_verification_are_skipped(extra):
    assert load({**jwk_of(rsa_key(), "k"), **extra}) == []


def test_use_sig_and_verify_ops_are_fine():
    assert len(load(jwk_of(rsa_key(), "k", use="sig", key_ops=["verify"]))) == 1


def test_private_members_are_ignored():
    from jwcrypto import jwk as jwc

    private = jwc.JWK.from_pyca(rsa_key()).export_private(as_dict=True)
    (vk,) = load(private)
    assert isinstance(vk.key, rsa.RSAPublicKey)


def test_x25519_from_library_export_is_skipped():
    from jwcrypto import jwk as jwc

    ecdh = jwc.JWK.from_pyca(x25519.X25519PrivateKey.generate().public_key()).export_public(as_dict=True)
    assert load(ecdh) == []


@pytest.mark.parametrize(
    "document, message",
    [
        (b"not json", "not valid JSON"),
        (b"[]", 'not a JWK Set (expected an object with a "keys" list)'),
        (b'{"keys": {}}', 'not a JWK Set (expected an object with a "keys" list)'),
        (b'{"other": []}', 'not a JWK Set (expected an object with a "keys" list)'),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    ],
)
def test_broken_documents_fail_as_a_whole(document, message):
    with pytest.raises(JwksError) as info:
        parse_jwks(document)
    assert str(info.value) == message


def test_empty_set_is_a_valid_document():
    assert parse_jwks(b'{"keys": []}') == []
