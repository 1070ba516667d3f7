"""Keystores and truststores named in the configuration (``key_store`` / ``trust_store``).

Run once at config-load time (plain file reads are fine there). Both loaders return a mapping
*alias -> entry*; aliases are case-insensitive like Java keystore aliases (keytool lowercases them),
so ``store["MyCert"]`` and ``store["mycert"]`` find the same entry.

Supported types (case-insensitive): ``PEM`` and ``PKCS12`` (also ``P12`` / ``PFX``). ``JKS`` and
``JCEKS`` are refused with the keytool command that converts them.

Alias rules
-----------
* PKCS12 keystore: one private key per file (a limit of ``cryptography``); its alias is the friendly
  name of its certificate, else the file stem. Other certificates in the file form the chain.
* PKCS12 truststore: every certificate in the file; alias = its friendly name, else a positional
  alias (below).
* PEM keystore: one file holding exactly one private key (PKCS#8 or traditional, optionally encrypted
  with ``password``) and its certificate(s); alias = the file stem. The certificate whose public key
  matches the key is ``certificate``; the others, in file order, are the ``chain``.
* PEM truststore: a file or a directory of ``*.pem`` / ``*.crt`` / ``*.cer`` files (PEM, or a single
  DER certificate). Certificates get positional aliases per file: the first is the file stem, the
  n-th (n >= 2) is ``<stem>-<n>``. Other PEM blocks (keys) are ignored so a key+cert file may serve
  as both stores. Duplicate aliases are an error.

Errors are :class:`StoreError` with a message naming the file and what is wrong; never the password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

__all__ = ["KeystoreEntry", "StoreError", "AliasMap", "load_keystore", "load_truststore", "normalize_type"]

V = TypeVar("V")

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)
_KEY_LABELS = frozenset({b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"DSA PRIVATE KEY"})
_TRUST_SUFFIXES = frozenset({".pem", ".crt", ".cer"})
_JKS_MAGIC = (b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce")  # JKS, JCEKS
_CONVERT_HINT = (
    "convert it with: keytool -importkeystore -srckeystore x.jks -destkeystore x.p12 -deststoretype PKCS12"
)
_TYPES = {"pem": "PEM", "pkcs12": "PKCS12", "p12": "PKCS12", "pfx": "PKCS12", "jks": "JKS", "jceks": "JKS"}


class StoreError(ValueError):
    """A keystore or truststore cannot be used; the message names the file and the reason."""


@dataclass(frozen=True, slots=True)
class KeystoreEntry:
    """A private key with its certificate (None when a PEM file holds the key alone) and chain."""

    private_key: PrivateKeyTypes
    certificate: x509.Certificate | None
    chain: tuple[x509.Certificate, ...] = ()


class AliasMap(dict[str, V]):
    """A dict whose keys are stored lower-cased and looked up case-insensitively (Java alias semantics)."""

    def __getitem__(self, alias: str) -> V:
        return super().__getitem__(alias.lower())

    def __contains__(self, alias: object) -> bool:
        return isinstance(alias, str) and super().__contains__(alias.lower())

    def get(self, alias: str, default=None):  # type: ignore[override]
        return super().get(alias.lower(), default)

    def _add(self, alias: str, value: V, path: Path) -> None:
        key = alias.lower()
        if super().__contains__(key):
            raise StoreError(f"{path}: duplicate alias {alias!r}")
        super().__setitem__(key, value)


def normalize_type(type: str) -> str:
    """Canonical store type (``PEM`` / ``PKCS12``); JKS gets the conversion hint, others a list of choices."""
    canon = _TYPES.get(str(type).strip().lower())
    if canon is None:
        raise StoreError(f"unknown store type {type!r}; use PEM or PKCS12")
    if canon == "JKS":
        raise StoreError(f"{type} stores are not supported; {_CONVERT_HINT}")
    return canon


def load_keystore(type: str, location: str | Path, password: str | None) -> AliasMap[KeystoreEntry]:
    """Load a keystore: alias -> :class:`KeystoreEntry` (see the module docstring for alias rules)."""
    kind = normalize_type(type)
    path = Path(location)
    data = _read(path)
    if kind == "PKCS12":
        return _p12_keystore(path, data, _p12_password(password))
    return _pem_keystore(path, data, password.encode("utf-8") if password else None)


def load_truststore(type: str, location: str | Path, password: str | None) -> AliasMap[x509.Certificate]:
    """Load a truststore: alias -> certificate (see the module docstring for alias rules)."""
    kind = normalize_type(type)
    path = Path(location)
    if kind == "PKCS12":
        return _p12_truststore(path, _read(path), _p12_password(password))
    out: AliasMap[x509.Certificate] = AliasMap()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in _TRUST_SUFFIXES and p.is_file())
        if not files:
            raise StoreError(f"{path}: no *.pem, *.crt or *.cer files in this directory")
    else:
        files = [path]
    for f in files:
        _name_positionally(out, f, _pem_certificates(f, _read(f)))
    return out


# --- helpers -------------------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise StoreError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
    if data[:4] in _JKS_MAGIC:
        raise StoreError(f"{path}: this is a Java JKS/JCEKS keystore, which is not supported; {_CONVERT_HINT}")
    return data


def _p12_password(password: str | None) -> bytes | None:
    """PKCS12 tells "no password" from the empty one; an empty string from config means the latter."""
    return None if password is None else password.encode("utf-8")


def _open_p12(path: Path, data: bytes, pw: bytes | None) -> pkcs12.PKCS12KeyAndCertificates:
    try:
        return pkcs12.load_pkcs12(data, pw)
    except ValueError:
        hint = "a password is required" if pw is None else "wrong password"
        raise StoreError(f"{path}: cannot open PKCS12 store ({hint}, or not a PKCS12 file)") from None


def _p12_keystore(path: Path, data: bytes, pw: bytes | None) -> AliasMap[KeystoreEntry]:
    p12 = _open_p12(path, data, pw)
    if p12.key is None:
        raise StoreError(f"{path}: no private key in this PKCS12 keystore")
    cert = p12.cert.certificate if p12.cert is not None else None
    alias = _friendly(p12.cert) or path.stem
    out: AliasMap[KeystoreEntry] = AliasMap()
    out._add(alias, KeystoreEntry(p12.key, cert, tuple(c.certificate for c in p12.additional_certs)), path)
    return out


def _p12_truststore(path: Path, data: bytes, pw: bytes | None) -> AliasMap[x509.Certificate]:
    p12 = _open_p12(path, data, pw)
    bags = ([p12.cert] if p12.cert is not None else []) + list(p12.additional_certs)
    if not bags:
        raise StoreError(f"{path}: no certificates in this PKCS12 truststore")
    out: AliasMap[x509.Certificate] = AliasMap()
    for i, bag in enumerate(bags, 1):
        out._add(_friendly(bag) or _positional(path, i), bag.certificate, path)
    return out


def _friendly(bag: pkcs12.PKCS12Certificate | None) -> str | None:
    if bag is None or not bag.friendly_name:
        return None
    return bag.friendly_name.decode("utf-8", "replace")


def _positional(path: Path, index: int) -> str:
    return path.stem if index == 1 else f"{path.stem}-{index}"


def _name_positionally(out: AliasMap[x509.Certificate], path: Path, certs: Iterable[x509.Certificate]) -> None:
    for i, cert in enumerate(certs, 1):
        out._add(_positional(path, i), cert, path)


def _blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    return [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(data)]


def _pem_certificates(path: Path, data: bytes) -> list[x509.Certificate]:
    blocks = _blocks(data)
    if not blocks:  # a lone DER certificate (.cer files often are)
        return [_guard(path, "not a PEM or DER certificate", lambda: x509.load_der_x509_certificate(data))]
    certs = [
        _guard(path, "a CERTIFICATE block is not a valid certificate", lambda b=b: x509.load_pem_x509_certificate(b))
        for label, b in blocks
        if label == b"CERTIFICATE"
    ]
    if not certs:
        raise StoreError(f"{path}: no CERTIFICATE blocks found")
    return certs


def _pem_keystore(path: Path, data: bytes, pw: bytes | None) -> AliasMap[KeystoreEntry]:
    blocks = _blocks(data)
    keys = [b for label, b in blocks if label in _KEY_LABELS]
    if not keys:
        raise StoreError(f"{path}: no private key found (expected a PEM 'PRIVATE KEY' block)")
    if len(keys) > 1:
        raise StoreError(f"{path}: {len(keys)} private keys found; a PEM keystore holds exactly one")
    key = _load_pem_key(path, keys[0], pw)
    certs = [_guard(path, "a CERTIFICATE block is not valid", lambda b=b: x509.load_pem_x509_certificate(b))
             for label, b in blocks if label == b"CERTIFICATE"]
    cert = None
    if certs:
        pub = _public_der(key.public_key())
        matching = [c for c in certs if _public_der(c.public_key()) == pub]
        if not matching:
            raise StoreError(f"{path}: no certificate in the file matches its private key")
        cert = matching[0]
        certs.remove(cert)
    out: AliasMap[KeystoreEntry] = AliasMap()
    out._add(path.stem, KeystoreEntry(key, cert, tuple(certs)), path)
    return out


def _load_pem_key(path: Path, block: bytes, pw: bytes | None) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(block, pw)
    except TypeError as exc:
        if pw is not None and "not encrypted" in str(exc):
            # The store password may be shared with the truststore; an unencrypted key is fine.
            return _load_pem_key(path, block, None)
        raise StoreError(f"{path}: the private key is encrypted; a password is required") from None
    except ValueError:
        what = "wrong password" if pw is not None else "unreadable key"
        raise StoreError(f"{path}: cannot load the private key ({what})") from None
    except Exception as exc:  # UnsupportedAlgorithm and friends
        raise StoreError(f"{path}: unsupported private key ({exc.__class__.__name__})") from None


def _public_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


T = TypeVar("T")


def _guard(path: Path, message: str, load: Callable[[], T]) -> T:
    try:
        return load()
    except ValueError:
        raise StoreError(f"{path}: {message}") from None
