"""keys.static: certificate and secret keys, the candidate rule, the key policy."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwtkit import claims, ec_key, ed_key, mint, rsa_key

from microgw.errors import TokenError
from microgw.jose.algorithms import HMAC_ALGS, RSA_ALGS
from microgw.keys.model import VerifyKey
from microgw.keys.static import KeyPolicyError, StaticKeySource, public_verify_key
from microgw.tokens.verify import parse, verify_signature


def certificate(key, cn="idp", days=30, start_days_ago=1) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=start_days_ago)).not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )


def test_certificate_source_verifies_tokens_of_its_key():
    source = StaticKeySource.from_certificate(certificate(rsa_key()), source="certificate idp")
    (key,) = source.candidates("gateway-kid", "RS256")  # the cert key has no kid: a wildcard
    assert key.algs == RSA_ALGS and key.source == "certificate idp"
    verify_signature(parse(mint("RS256", claims())), key)
    assert source.candidates(None, "ES256") == []


def test_ec_certificate_and_allowed_algs():
    source = StaticKeySource.from_certificate(certificate(ec_key()))
    assert [k.algs for k in source.keys] == [frozenset({"ES256"})]
    limited = StaticKeySource.from_certificate(certificate(rsa_key()), allowed_algs={"RS512", "ES256"})
    assert limited.keys[0].algs == frozenset({"RS512"})
    with pytest.raises(KeyPolicyError, match="no allowed algorithm"):
        StaticKeySource.from_certificate(certificate(rsa_key()), allowed_algs={"ES256"})


def test_weak_rsa_certificate_is_refused():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyPolicyError, match="1024 bits is too short"):
        StaticKeySource.from_certificate(certificate(weak), source="cert weak")


def test_expired_certificate_is_used_with_a_warning(caplog):
    expired = certificate(rsa_key(), days=-1, start_days_ago=10)
    with caplog.at_level(logging.WARNING):
        source = StaticKeySource.from_certificate(expired, source="certificate old")
    assert len(source.keys) == 1
    assert "certificate old: certificate expired" in caplog.text


def test_public_key_source():
    source = StaticKeySource.from_public_key(ed_key().public_key(), kid="ed")
    assert [k.kid for k in source.candidates("ed", "EdDSA")] == ["ed"]
    assert source.candidates("other", "EdDSA") == []


def test_hmac_secret_policy(caplog):
    with pytest.raises(KeyPolicyError, match="empty"):
        StaticKeySource.from_hmac_secret(b"")
    with pytest.raises(KeyPolicyError, match="must be bytes"):
        StaticKeySource.from_hmac_secret("manage")  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        short = StaticKeySource.from_hmac_secret(b"manage", source="strategy app1")
    assert short.keys[0].algs == HMAC_ALGS
    assert "strategy app1: HMAC secret of 6 bytes is shorter than RFC 7518 requires for HS256, HS384, HS512" in caplog.text
    assert "manage" not in caplog.text.replace("strategy app1", "")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        StaticKeySource.from_hmac_secret(b"x" * 64)
        only256 = StaticKeySource.from_hmac_secret(b"x" * 32, allowed_algs={"HS256"})
    assert caplog.text == "" and only256.keys[0].algs == frozenset({"HS256"})


def test_short_vendor_secret_still_verifies():
    source = StaticKeySource.from_hmac_secret(b"manage")
    (key,) = source.candidates("any", "HS256")
    import jwt as pyjwt
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT also warns about the short key
        token = pyjwt.encode(claims(), b"manage", algorithm="HS256")
        forged = pyjwt.encode(claims(), b"manage!", algorithm="HS256")
    verify_signature(parse(token), key)  # the vendor's 6-byte default secret still verifies
    with pytest.raises(TokenError, match="invalid signature"):
        verify_signature(parse(forged), key)


def test_candidate_rule_exact_kid_first_then_kidless():
    a = VerifyKey("a", rsa_key("a").public_key(), RSA_ALGS, "a")
    b = VerifyKey("b", rsa_key("b").public_key(), frozenset({"RS256"}), "b")
    anon = VerifyKey(None, rsa_key("c").public_key(), RSA_ALGS, "anon")
    ec = VerifyKey("e", ec_key().public_key(), frozenset({"ES256"}), "ec")
    source = StaticKeySource([anon, a, b, ec])
    assert [k.source for k in source.candidates("a", "RS256")] == ["a", "anon"]
    assert [k.source for k in source.candidates("b", "PS256")] == ["anon"]
    assert [k.source for k in source.candidates("zzz", "RS256")] == ["anon"]
    assert [k.source for k in source.candidates(None, "RS256")] == ["anon", "a", "b"]
    assert [k.source for k in source.candidates(None, "ES256")] == ["ec"]
    assert source.candidates(None, "HS256") == []
    source.candidates("a", "RS256").clear()  # callers get their own list
    assert len(source.candidates("a", "RS256")) == 2


async def test_static_sources_never_refresh():
    assert await StaticKeySource([]).refresh_for_unknown_kid("x") is False


def test_public_verify_key_policy():
    assert public_verify_key(rsa_key().public_key(), kid="k", source="s").algs == RSA_ALGS
    with pytest.raises(KeyPolicyError):
        public_verify_key(rsa.generate_private_key(public_exponent=3, key_size=1024).public_key(), kid=None, source="s")
