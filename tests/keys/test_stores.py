"""keys.stores: PEM and PKCS12 keystores/truststores made in tmp_path, aliases, clear errors."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from microgw.keys.stores import KeystoreEntry, StoreError, load_keystore, load_truststore

PASSWORD = "Sup3r-secret"


def new_key():
    return ec.generate_private_key(ec.SECP256R1())  # fast; RSA is covered elsewhere


def cert_for(key, cn: str, issuer_key=None, issuer_cn: str | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn or cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(issuer_key or key, hashes.SHA256())
    )


def pem(obj, password: str | None = None) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def error(call, *args) -> str:
    with pytest.raises(StoreError) as info:
        call(*args)
    message = str(info.value)
    assert PASSWORD not in message
    return message


# --- PEM keystore ---------------------------------------------------------------------------------------


def test_pem_keystore_key_cert_and_chain(tmp_path: Path):
    ca_key, key = new_key(), new_key()
    ca = cert_for(ca_key, "ca")
    leaf = cert_for(key, "gateway", ca_key, "ca")
    path = tmp_path / "gateway.pem"
    path.write_bytes(pem(ca) + pem(key) + pem(leaf))  # any order: the matching cert is found
    store = load_keystore("PEM", path, None)
    entry = store["gateway"]
    assert isinstance(entry, KeystoreEntry)
    assert entry.certificate == leaf and entry.chain == (ca,)
    assert store["GATEWAY"] is entry and "Gateway" in store and list(store) == ["gateway"]


def test_pem_keystore_encrypted_key(tmp_path: Path):
    key = new_key()
    path = tmp_path / "signing.pem"
    path.write_bytes(pem(key, PASSWORD) + pem(cert_for(key, "s")))
    entry = load_keystore("pem", str(path), PASSWORD)["signing"]
    assert entry.private_key.private_numbers() == key.private_numbers()
    assert "wrong password" in error(load_keystore, "PEM", path, "nope")
    assert "a password is required" in error(load_keystore, "PEM", path, None)


def test_pem_keystore_unencrypted_key_ignores_a_password(tmp_path: Path):
    key = new_key()
    path = tmp_path / "k.pem"
    path.write_bytes(pem(key))
    entry = load_keystore("PEM", path, PASSWORD)["k"]
    assert entry.certificate is None and entry.chain == ()


def test_pem_keystore_errors(tmp_path: Path):
    key, other = new_key(), new_key()
    only_cert = tmp_path / "c.pem"
    only_cert.write_bytes(pem(cert_for(key, "c")))
    assert "no private key found" in error(load_keystore, "PEM", only_cert, None)
    two = tmp_path / "two.pem"
    two.write_bytes(pem(key) + pem(other))
    assert "2 private keys found" in error(load_keystore, "PEM", two, None)
    mismatch = tmp_path / "mismatch.pem"
    mismatch.write_bytes(pem(key) + pem(cert_for(other, "o")))
    assert "no certificate in the file matches its private key" in error(load_keystore, "PEM", mismatch, None)
    broken = tmp_path / "broken.pem"
    broken.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert "cannot load the private key" in error(load_keystore, "PEM", broken, None)
    assert error(load_keystore, "PEM", tmp_path / "missing.pem", None) == f"{tmp_path / 'missing.pem'}: file not found"
    assert "is a directory" in error(load_keystore, "PEM", tmp_path, None)


# --- PEM truststore ---------------------------------------------------------------------------------------


def test_pem_truststore_file_with_several_certificates(tmp_path: Path):
    certs = [cert_for(new_key(), f"c{i}") for i in range(3)]
    path = tmp_path / "trusted.pem"
    path.write_bytes(b"".join(pem(c) for c in certs) + pem(new_key()))  # keys are ignored
    store = load_truststore("PEM", path, None)
    assert dict(store) == {"trusted": certs[0], "trusted-2": certs[1], "trusted-3": certs[2]}
    assert store["Trusted-2"] == certs[1]


def test_pem_truststore_directory(tmp_path: Path):
    a, b, c = (cert_for(new_key(), n) for n in "abc")
    (tmp_path / "IdP-One.pem").write_bytes(pem(a))
    (tmp_path / "two.crt").write_bytes(pem(b))
    (tmp_path / "three.cer").write_bytes(c.public_bytes(serialization.Encoding.DER))  # DER works too
    (tmp_path / "notes.txt").write_text("ignored")
    store = load_truststore("PEM", tmp_path, None)
    assert sorted(store) == ["idp-one", "three", "two"]
    assert store["IdP-One"] == a and store.get("THREE") == c and store.get("missing") is None


def test_pem_truststore_errors(tmp_path: Path):
    (tmp_path / "a.pem").write_bytes(pem(cert_for(new_key(), "a")))
    (tmp_path / "a.crt").write_bytes(pem(cert_for(new_key(), "a2")))
    assert "duplicate alias 'a'" in error(load_truststore, "PEM", tmp_path, None)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no *.pem, *.crt or *.cer files" in error(load_truststore, "PEM", empty, None)
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"hello")
    assert "not a PEM or DER certificate" in error(load_truststore, "PEM", junk, None)
    keyonly = tmp_path / "key.pem"
    keyonly.write_bytes(pem(new_key()))
    assert "no CERTIFICATE blocks found" in error(load_truststore, "PEM", keyonly, None)


# --- PKCS12 -----------------------------------------------------------------------------------------------


def test_pkcs12_keystore_alias_is_the_friendly_name(tmp_path: Path):
    key, ca_key = new_key(), new_key()
    ca = cert_for(ca_key, "ca")
    leaf = cert_for(key, "gw", ca_key, "ca")
    path = tmp_path / "keystore.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"SigningKey", key, leaf, [ca], serialization.BestAvailableEncryption(PASSWORD.encode())))
    for kind in ("PKCS12", "pkcs12", "P12", "pfx"):
        store = load_keystore(kind, path, PASSWORD)
        assert list(store) == ["signingkey"]
        entry = store["SigningKey"]
        assert entry.certificate == leaf and entry.chain == (ca,)


def test_pkcs12_keystore_without_friendly_name_uses_the_file_stem(tmp_path: Path):
    key = new_key()
    path = tmp_path / "gateway.pfx"
    path.write_bytes(pkcs12.serialize_key_and_certificates(None, key, cert_for(key, "gw"), None, serialization.NoEncryption()))
    assert list(load_keystore("PKCS12", path, None)) == ["gateway"]


def test_pkcs12_errors(tmp_path: Path):
    key = new_key()
    path = tmp_path / "ks.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"k", key, cert_for(key, "k"), None, serialization.BestAvailableEncryption(PASSWORD.encode())))
    assert "wrong password" in error(load_keystore, "PKCS12", path, "wrong")
    assert "a password is required" in error(load_keystore, "PKCS12", path, None)
    garbage = tmp_path / "garbage.p12"
    garbage.write_bytes(b"\x30\x03\x02\x01\x00")
    assert "not a PKCS12 file" in error(load_keystore, "PKCS12", garbage, PASSWORD)
    certs_only = tmp_path / "trust.p12"
    certs_only.write_bytes(pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(cert_for(key, "x"), b"x")], serialization.NoEncryption()))
    assert "no private key in this PKCS12 keystore" in error(load_keystore, "PKCS12", certs_only, None)


def test_pkcs12_java_truststore_aliases(tmp_path: Path):
    a, b, c = (cert_for(new_key(), n) for n in ("a", "b", "c"))
    bags = [pkcs12.PKCS12Certificate(a, b"IdP-Signing"), pkcs12.PKCS12Certificate(b, None), pkcs12.PKCS12Certificate(c, b"other")]
    path = tmp_path / "truststore.p12"
    path.write_bytes(pkcs12.serialize_java_truststore(bags, serialization.BestAvailableEncryption(PASSWORD.encode())))
    store = load_truststore("PKCS12", path, PASSWORD)
    assert dict(store) == {"idp-signing": a, "truststore-2": b, "other": c}
    assert store["IDP-SIGNING"] == a


def test_pkcs12_keystore_as_truststore(tmp_path: Path):
    key = new_key()
    leaf = cert_for(key, "leaf")
    path = tmp_path / "ks.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"leaf", key, leaf, None, serialization.NoEncryption()))
    assert dict(load_truststore("PKCS12", path, None)) == {"leaf": leaf}


# --- JKS and types --------------------------------------------------------------------------------------------


def test_jks_type_explains_how_to_convert(tmp_path: Path):
    message = error(load_truststore, "JKS", tmp_path / "x.jks", PASSWORD)
    assert "keytool -importkeystore -srckeystore x.jks -destkeystore x.p12 -deststoretype PKCS12" in message
    assert "not supported" in error(load_keystore, "jceks", tmp_path / "x.jks", None)


def test_jks_file_under_another_type_is_recognised(tmp_path: Path):
    path = tmp_path / "keystore.p12"
    path.write_bytes(b"\xfe\xed\xfe\xed" + b"\x00" * 60)
    message = error(load_keystore, "PKCS12", path, PASSWORD)
    assert message.startswith(f"{path}: this is a Java JKS/JCEKS keystore") and "keytool -importkeystore" in message


def test_unknown_store_type():
    assert error(load_truststore, "BKS", "x", None) == "unknown store type 'BKS'; use PEM or PKCS12"


# --- stores made by Java's keytool (the vendor's world), when a JDK is installed ---------------------------


@pytest.mark.skipif(shutil.which("keytool") is None, reason="no JDK keytool on this machine")
def test_real_keytool_stores(tmp_path: Path):
    def keytool(*args: str) -> None:
        subprocess.run(["keytool", *args, "-storepass", PASSWORD], check=True, capture_output=True, timeout=60)

    jks, p12, trust = tmp_path / "gateway.jks", tmp_path / "gateway.p12", tmp_path / "trust.p12"
    keytool("-genkeypair", "-alias", "SSOS", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=gateway",
            "-validity", "10", "-keystore", str(jks), "-storetype", "JKS", "-keypass", PASSWORD)
    message = error(load_keystore, "PKCS12", jks, PASSWORD)
    assert "this is a Java JKS/JCEKS keystore" in message and "-deststoretype PKCS12" in message

    # the conversion our message recommends, then an exported certificate in a PKCS12 truststore
    keytool("-importkeystore", "-srckeystore", str(jks), "-srcstorepass", PASSWORD, "-destkeystore", str(p12), "-deststoretype", "PKCS12")
    entry = load_keystore("PKCS12", p12, PASSWORD)["ssos"]
    assert entry.certificate is not None and entry.certificate.subject.rfc4514_string() == "CN=gateway"
    cert_file = tmp_path / "ssos.pem"
    keytool("-exportcert", "-rfc", "-alias", "ssos", "-keystore", str(p12), "-file", str(cert_file))
    keytool("-importcert", "-noprompt", "-alias", "IdP-Signing", "-file", str(cert_file), "-keystore", str(trust), "-storetype", "PKCS12")
    store = load_truststore("PKCS12", trust, PASSWORD)
    assert list(store) == ["idp-signing"] and store["IdP-Signing"] == entry.certificate
    assert load_truststore("PEM", cert_file, None)["SSOS"] == entry.certificate


def test_pkcs12_empty_password_is_not_no_password(tmp_path: Path):
    key = new_key()
    path = tmp_path / "empty.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"k", key, cert_for(key, "k"), None, serialization.NoEncryption()))
    assert list(load_keystore("PKCS12", path, "")) == ["k"]
    assert list(load_keystore("PKCS12", path, None)) == ["k"]
