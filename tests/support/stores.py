"""Key stores built for tests from a trustme-issued certificate."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12


def write_pkcs12(cert, path: Path, password: bytes, name: bytes = b"gw") -> None:
    """Write ``cert`` (a trustme LeafCert: key and leaf) as a password-protected PKCS#12 file."""
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
    leaf = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
    path.write_bytes(pkcs12.serialize_key_and_certificates(name, key, leaf, None, serialization.BestAvailableEncryption(password)))
