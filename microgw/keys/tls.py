"""TLS contexts: the HTTPS listener's (from key_store) and the one for calling out (trust_store)."""

from __future__ import annotations

import os
import ssl
import tempfile

from cryptography.hazmat.primitives import serialization

from microgw.config.model import StoreConfig


class TlsConfigError(ValueError):
    """The key or trust store cannot be used for TLS; the message names the file."""


def server_context(store: StoreConfig) -> ssl.SSLContext:
    """A modern server context (TLS 1.2+) with the store's certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if store.type == "PEM":
        try:
            context.load_cert_chain(store.location, store.key_location, password=store.password)
        except FileNotFoundError:
            raise TlsConfigError(f"{store.location}: file not found") from None
        except (ssl.SSLError, OSError) as exc:
            raise TlsConfigError(f"{store.location}: not a usable PEM certificate chain and key ({exc.__class__.__name__})") from None
        return context
    entry = _keystore_entry(store)
    _load_chain_from_memory(context, entry)
    return context


def _keystore_entry(store: StoreConfig):
    from microgw.keys.stores import StoreError, load_keystore

    try:
        entries = load_keystore(store.type, store.location, store.password)
    except StoreError as exc:
        raise TlsConfigError(str(exc)) from None
    if store.key_alias:
        if store.key_alias not in entries:
            raise TlsConfigError(f"{store.location}: no key with alias {store.key_alias!r} (has: {', '.join(sorted(entries))})")
        return entries[store.key_alias]
    if len(entries) != 1:
        raise TlsConfigError(f"{store.location}: holds {len(entries)} keys; name one with key_alias")
    return next(iter(entries.values()))


def _load_chain_from_memory(context: ssl.SSLContext, entry) -> None:
    """``ssl`` loads chains from files only: write a private temporary file, load it, delete it."""
    if entry.certificate is None:
        raise TlsConfigError("the keystore entry has no certificate")
    pem = entry.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for cert in (entry.certificate, *entry.chain):
        pem += cert.public_bytes(serialization.Encoding.PEM)
    with tempfile.TemporaryDirectory(prefix="microgw-tls-") as folder:
        os.chmod(folder, 0o700)
        path = os.path.join(folder, "chain.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        context.load_cert_chain(path)


def client_context(trust_store: StoreConfig | None) -> ssl.SSLContext:
    """Verifies native services and identity providers: system CAs plus the trust store's certificates."""
    context = ssl.create_default_context()
    if trust_store is None:
        return context
    from microgw.keys.stores import StoreError, load_truststore

    try:
        certs = load_truststore(trust_store.type, trust_store.location, trust_store.password)
    except StoreError as exc:
        raise TlsConfigError(str(exc)) from None
    if certs:
        data = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs.values())
        context.load_verify_locations(cadata=data)
    return context
