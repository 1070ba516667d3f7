"""keys/signing.py: SigningKey / SigningKeyring semantics and configured (keystore) keys."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from microgw.keys.publish import jwk_thumbprint, jwks_document
from microgw.keys.signing import (
    KeyringRef,
    SigningKey,
    SigningKeyring,
    default_alg,
    keyring_from_keystore_entries,
    load_configured_keyring,
)

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_current_is_newest_active_and_published_excludes_retired(rsa_key, rsa_key2, ed_key):
    a = SigningKey.from_private_key(rsa_key, created_at=T0)
    b = SigningKey.from_private_key(rsa_key2, created_at=T0 + timedelta(days=1))
    c = SigningKey(jwk_thumbprint(ed_key), ed_key, "EdDSA", T0 + timedelta(days=2), retired=True)
    ring = SigningKeyring([a, b, c])
    assert ring.current is b
    assert ring.published == (b, a)
    assert ring.keys == (a, b, c)
    assert ring.get(c.kid) is c and ring.get("nope") is None
    assert ring.signing_key() is b and ring.signing_key("RS256") is b
    with pytest.raises(KeyError):
        ring.signing_key("EdDSA")  # retired


def test_tie_on_created_at_prefers_later_key(rsa_key, rsa_key2):
    a = SigningKey.from_private_key(rsa_key, created_at=T0)
    b = SigningKey.from_private_key(rsa_key2, created_at=T0)
    assert SigningKeyring([a, b]).current is b
    assert SigningKeyring([b, a]).current is a


def test_keyring_invariants(rsa_key):
    a = SigningKey.from_private_key(rsa_key, created_at=T0)
    with pytest.raises(ValueError):
        SigningKeyring([])
    with pytest.raises(ValueError):
        SigningKeyring([SigningKey(a.kid, rsa_key, "RS256", T0, retired=True)])
    with pytest.raises(ValueError):
        SigningKeyring([a, a])
    ring = SigningKeyring([a])
    with pytest.raises(AttributeError):
        ring.current = a  # type: ignore[misc]


def test_signing_key_checks(rsa_key, ed_key):
    with pytest.raises(ValueError):
        SigningKey("k", rsa_key, "ES256", T0)  # key does not fit alg
    with pytest.raises(ValueError):
        SigningKey("k", b"s" * 32, "HS256", T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SigningKey("k", rsa_key, "RS256", datetime(2024, 1, 1))  # naive time
    key = SigningKey.from_private_key(ed_key, created_at=T0)
    assert key.alg == "EdDSA" and key.kid == jwk_thumbprint(ed_key)
    assert "private" not in repr(key).lower()


def test_default_alg(rsa_key, ec_keys, ed_key):
    assert default_alg(rsa_key) == "RS256"
    assert [default_alg(ec_keys[a]) for a in ("ES256", "ES384", "ES512")] == ["ES256", "ES384", "ES512"]
    assert default_alg(ed_key) == "EdDSA"


def test_keyring_ref_swaps(rsa_key, rsa_key2):
    r1 = SigningKeyring([SigningKey.from_private_key(rsa_key)])
    r2 = SigningKeyring([SigningKey.from_private_key(rsa_key2)])
    ref = KeyringRef(r1)
    assert ref() is r1
    ref.swap(r2)
    assert ref() is r2


def _self_signed(key):
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "gw")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


def test_configured_pkcs12_keystore(tmp_path, rsa_key, pyjwt_verify):
    cert = _self_signed(rsa_key)
    p12 = pkcs12.serialize_key_and_certificates(
        b"signer", rsa_key, cert, None, serialization.BestAvailableEncryption(b"changeit")
    )
    (tmp_path / "gw.p12").write_bytes(p12)
    ring = load_configured_keyring("PKCS12", str(tmp_path / "gw.p12"), "changeit", "signer", "RS512")
    key = ring.current
    assert key.kid == jwk_thumbprint(rsa_key) and key.alg == "RS512" and key.created_at == T0
    jwks = jwks_document(ring)
    assert pyjwt_verify(key.signer.sign({"x": 1}), jwks, "RS512") == {"x": 1}


def test_configured_pem_keystore_from_trustme(tmp_path, pyjwt_verify):
    ca = trustme.CA()
    leaf = ca.issue_cert("gw.example")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "gw.pem"))
    ring = load_configured_keyring("PEM", str(tmp_path / "gw.pem"), None, "gw")
    alg = ring.current.alg
    assert pyjwt_verify(ring.current.signer.sign({"y": 2}), jwks_document(ring), alg) == {"y": 2}


def test_configured_alias_missing_or_misfit(rsa_key):
    class Entry:
        private_key = rsa_key
        certificate = None

    with pytest.raises(ValueError, match="no key alias"):
        keyring_from_keystore_entries({"a": Entry()}, "b")
    with pytest.raises(ValueError):
        keyring_from_keystore_entries({"a": Entry()}, "a", "ES256")
    ring = keyring_from_keystore_entries({"a": Entry()}, "a")
    assert ring.current.alg == "RS256"
