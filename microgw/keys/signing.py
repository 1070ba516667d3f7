"""The gateway's own signing keys: an immutable keyring with rotation, and where its keys come from.

Two sources, chosen explicitly by configuration (never a silent throwaway key):

* **Configured** — a private key from a keystore (PEM or PKCS12) named by key alias:
  :func:`load_configured_keyring`.
* **Managed state directory** — :class:`KeyStateDir` generates a key on first start and keeps it, so
  tokens stay verifiable across restarts and by every process sharing the directory. Rotation is
  ``add_key`` (the new key signs at once, the old one stays published so outstanding tokens still
  verify) followed, after the longest token lifetime, by ``retire`` (the old key leaves the JWKS).

Key ids are RFC 7638 JWK thumbprints (SHA-256, base64url) of the public key: stable across restarts
and nodes, derived from the key itself, safe as a file name, and checked again when a managed key is
loaded (a swapped or corrupted file is refused, not published under the wrong kid).

Everything here is blocking (file I/O, key generation): call it at startup or from an executor.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from microgw.jose.algorithms import EDDSA_ALGS, RSA_ALGS
from microgw.jose.sign import JwsSigner, PrivateKey

from .publish import jwk_thumbprint

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
_ALG_BY_CURVE = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
MANAGED_ALGS = RSA_ALGS | frozenset(_CURVES) | EDDSA_ALGS

# RSA-3072 (128-bit security, NIST SP 800-57) for managed keys: they may live for years and 2048 is
# only approved until 2030. Signing costs ~3x more than 2048 but token issuing is not the hot path.
DEFAULT_RSA_BITS = 3072


class KeyStateError(Exception):
    """The key state directory is unusable (corrupt manifest, missing or mismatched key file, ...)."""


def default_alg(private_key: PrivateKey) -> str:
    """The natural JWA algorithm of a key: RS256, ES256/384/512 by curve, or EdDSA."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.curve.name in _ALG_BY_CURVE:
        return _ALG_BY_CURVE[private_key.curve.name]
    if isinstance(private_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return "EdDSA"
    raise ValueError("signing keys must be RSA, EC (P-256/384/521) or Ed25519/Ed448 private keys")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return value.astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key the gateway signs with, under a fixed kid and algorithm.

    ``signer`` is built once here (refusing a key that does not fit ``alg``) so that issuing a
    token reuses the precomputed header and padding objects.
    """

    kid: str
    private_key: PrivateKey = field(repr=False)
    alg: str
    created_at: datetime
    retired: bool = False
    signer: JwsSigner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.private_key, (bytes, bytearray)):
            raise ValueError("shared secrets cannot be published; the keyring holds asymmetric keys only")
        object.__setattr__(self, "created_at", _utc(self.created_at))
        object.__setattr__(self, "signer", JwsSigner(self.private_key, self.alg, kid=self.kid, typ="JWT"))

    @classmethod
    def from_private_key(
        cls, private_key: PrivateKey, alg: str | None = None, *, created_at: datetime | None = None
    ) -> SigningKey:
        """A key with its thumbprint as kid; ``alg`` defaults to :func:`default_alg`."""
        return cls(
            kid=jwk_thumbprint(private_key),
            private_key=private_key,
            alg=alg or default_alg(private_key),
            created_at=created_at or _EPOCH,
        )


class SigningKeyring:
    """An immutable set of signing keys.

    ``current`` is the newest non-retired key (ties: the later one given); ``published`` holds all
    non-retired keys, newest first — the JWKS. A keyring always has at least one active key.
    """

    __slots__ = ("keys", "current", "published", "_by_kid", "_newest_by_alg")

    keys: tuple[SigningKey, ...]
    current: SigningKey
    published: tuple[SigningKey, ...]

    def __init__(self, keys: Iterable[SigningKey]) -> None:
        all_keys = tuple(keys)
        by_kid = {k.kid: k for k in all_keys}
        if len(by_kid) != len(all_keys):
            raise ValueError("duplicate kid in keyring")
        order = {k.kid: i for i, k in enumerate(all_keys)}
        published = tuple(
            sorted((k for k in all_keys if not k.retired), key=lambda k: (k.created_at, order[k.kid]), reverse=True)
        )
        if not published:
            raise ValueError("a keyring needs at least one non-retired key")
        newest_by_alg: dict[str, SigningKey] = {}
        for k in published:
            newest_by_alg.setdefault(k.alg, k)
        for name, value in (
            ("keys", all_keys),
            ("current", published[0]),
            ("published", published),
            ("_by_kid", by_kid),
            ("_newest_by_alg", newest_by_alg),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SigningKeyring is immutable")

    def get(self, kid: str) -> SigningKey | None:
        return self._by_kid.get(kid)

    def signing_key(self, alg: str | None = None) -> SigningKey:
        """The key to sign with now: ``current``, or the newest active key of ``alg``; KeyError if none."""
        if alg is None:
            return self.current
        return self._newest_by_alg[alg]

    def __repr__(self) -> str:
        return f"SigningKeyring(current={self.current.kid!r}, published={[k.kid for k in self.published]!r})"


class KeyringRef:
    """The one reference a running gateway swaps on rotation; call it to get the keyring of now.

    Pass it as the issuer's ``keyring_provider`` so a rotation (``swap``) applies to the next token
    without rebuilding the issuer.
    """

    __slots__ = ("_keyring",)

    def __init__(self, keyring: SigningKeyring) -> None:
        self._keyring = keyring

    def __call__(self) -> SigningKeyring:
        return self._keyring

    def swap(self, keyring: SigningKeyring) -> None:
        self._keyring = keyring


# --------------------------------------------------------------------------- configured keys


def keyring_from_keystore_entries(
    entries: Mapping[str, Any], key_alias: str, alg: str | None = None
) -> SigningKeyring:
    """A one-key keyring from loaded keystore entries (objects with ``private_key`` and ``certificate``).

    ``created_at`` is the certificate's notBefore when there is one (only ordering uses it).
    """
    entry = entries.get(key_alias)
    if entry is None:
        raise ValueError(f"keystore has no key alias {key_alias!r} (aliases: {sorted(entries)})")
    private_key = getattr(entry, "private_key", None)
    if private_key is None:
        raise ValueError(f"keystore alias {key_alias!r} holds no private key")
    cert = getattr(entry, "certificate", None)
    created = cert.not_valid_before_utc if cert is not None else _EPOCH
    return SigningKeyring([SigningKey.from_private_key(private_key, alg, created_at=created)])


def load_configured_keyring(
    store_type: str, location: str, password: str | bytes | None, key_alias: str, alg: str | None = None
) -> SigningKeyring:
    """Load a keystore (PEM or PKCS12, via :mod:`microgw.keys.stores`) and use ``key_alias`` to sign."""
    from . import stores  # written alongside; imported late so this module loads without it

    return keyring_from_keystore_entries(stores.load_keystore(store_type, location, password), key_alias, alg)


# --------------------------------------------------------------------------- managed state directory

_KID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of SHA-256: also a safe file name
MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".lock"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One manifest entry: what is known about a managed key without loading it."""

    kid: str
    alg: str
    created_at: datetime
    retired: bool

    def to_json(self) -> dict[str, Any]:
        return {"kid": self.kid, "alg": self.alg, "created": self.created_at.isoformat(), "retired": self.retired}

    @classmethod
    def from_json(cls, obj: Any) -> KeyRecord:
        if not isinstance(obj, dict):
            raise KeyStateError("manifest entry is not an object")
        kid, alg, created, retired = obj.get("kid"), obj.get("alg"), obj.get("created"), obj.get("retired", False)
        if not isinstance(kid, str) or not _KID.match(kid):
            raise KeyStateError("manifest entry has an invalid kid")
        if alg not in MANAGED_ALGS:
            raise KeyStateError(f"manifest entry {kid} has an unsupported alg")
        if not isinstance(retired, bool) or not isinstance(created, str):
            raise KeyStateError(f"manifest entry {kid} is malformed")
        try:
            created_at = _utc(datetime.fromisoformat(created))
        except ValueError as exc:
            raise KeyStateError(f"manifest entry {kid} has an invalid created time") from exc
        return cls(kid, alg, created_at, retired)


def _generate(alg: str, rsa_bits: int) -> PrivateKey:
    if alg in RSA_ALGS:
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if alg in _CURVES:
        return ec.generate_private_key(_CURVES[alg]())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"managed keys support {sorted(MANAGED_ALGS)}, not {alg!r}")


class KeyStateDir:
    """Managed signing keys in a directory dedicated to microgw.

    Layout: ``manifest.json`` (``{"version": 1, "keys": [{kid, alg, created, retired}]}``), one
    ``<kid>.pem`` (PKCS#8, optionally encrypted with ``passphrase``) per key, and ``.lock``. The
    directory is kept at 0700 and every file at 0600. Files are written atomically (temporary file,
    fsync, ``os.replace``, fsync of the directory) and the key file before the manifest that names it,
    so a reader never sees a manifest entry without its key.

    Concurrency: every change runs under an exclusive ``flock`` on ``.lock`` (``msvcrt.locking`` on
    Windows), and ``load_or_create`` decides whether to generate only while holding it. Two processes
    starting at once on an empty directory therefore end up with the same single key. The kernel drops
    the lock when a process dies, so there is no stale lock file to clean up. Reading (``load``,
    ``list``) needs no lock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        rsa_bits: int = DEFAULT_RSA_BITS,
        passphrase: str | bytes | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        if rsa_bits not in (2048, 3072, 4096):
            raise ValueError("rsa_bits must be 2048, 3072 or 4096")
        self.path = Path(path)
        self._rsa_bits = rsa_bits
        self._passphrase = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase or None
        self._clock = clock

    # ---- public operations

    def load_or_create(self, alg: str = "RS256") -> SigningKeyring:
        """The keyring of the directory, generating a key of ``alg`` first if none is active for it.

        A key is added also when the directory has active keys but none of ``alg`` (the configured
        algorithm changed): the new key signs, the old ones stay published until retired.
        """
        if alg not in MANAGED_ALGS:
            raise ValueError(f"managed keys support {sorted(MANAGED_ALGS)}, not {alg!r}")
        self._ensure_dir()
        with self._locked():
            records = self._read_manifest()
            if not any(r.alg == alg and not r.retired for r in records):
                records = self._add(records, alg)
            return self._keyring(records)

    def load(self) -> SigningKeyring:
        """The keyring as stored; KeyStateError when the directory has no active key."""
        return self._keyring(self._read_manifest())

    def add_key(self, alg: str = "RS256") -> SigningKeyring:
        """Rotate: generate a key that becomes ``current``; earlier keys stay published."""
        if alg not in MANAGED_ALGS:
            raise ValueError(f"managed keys support {sorted(MANAGED_ALGS)}, not {alg!r}")
        self._ensure_dir()
        with self._locked():
            return self._keyring(self._add(self._read_manifest(), alg))

    def retire(self, kid: str) -> SigningKeyring:
        """Take a key out of the JWKS (its file is kept). Refuses an unknown kid or the last active key."""
        if not self.path.is_dir():
            raise KeyStateError(f"{self.path} is not a key state directory")
        with self._locked():
            records = self._read_manifest()
            target = next((r for r in records if r.kid == kid), None)
            if target is None:
                raise KeyStateError(f"no managed key with kid {kid!r}")
            if not target.retired:
                if not any(r.kid != kid and not r.retired for r in records):
                    raise KeyStateError("refusing to retire the only active signing key; add a key first")
                records = [KeyRecord(r.kid, r.alg, r.created_at, True) if r.kid == kid else r for r in records]
                self._write_manifest(records)
            return self._keyring(records)

    def list(self) -> list[KeyRecord]:
        """Every key the manifest knows, retired ones included, in creation order."""
        return self._read_manifest()

    def version(self) -> tuple[int, int, int] | None:
        """A cheap change marker of the manifest (inode, mtime, size): poll it to pick up rotations
        done by another process, then call :meth:`load`."""
        try:
            st = os.stat(self.path / MANIFEST_NAME)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    # ---- internals

    def _ensure_dir(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock_fd(fd)
            try:
                yield
            finally:
                _unlock_fd(fd)
        finally:
            os.close(fd)

    def _read_manifest(self) -> list[KeyRecord]:
        try:
            raw = (self.path / MANIFEST_NAME).read_bytes()
        except FileNotFoundError:
            return []
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise KeyStateError(f"{self.path / MANIFEST_NAME} is not valid JSON") from exc
        if not isinstance(doc, dict) or doc.get("version") != 1 or not isinstance(doc.get("keys"), list):
            raise KeyStateError(f"{self.path / MANIFEST_NAME} is not a version 1 key manifest")
        records = [KeyRecord.from_json(e) for e in doc["keys"]]
        if len({r.kid for r in records}) != len(records):
            raise KeyStateError("manifest lists a kid twice")
        return records

    def _write_manifest(self, records: list[KeyRecord]) -> None:
        doc = {"version": 1, "keys": [r.to_json() for r in records]}
        self._atomic_write(MANIFEST_NAME, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))

    def _add(self, records: list[KeyRecord], alg: str) -> list[KeyRecord]:
        private_key = _generate(alg, self._rsa_bits)
        kid = jwk_thumbprint(private_key)
        encryption = (
            serialization.BestAvailableEncryption(self._passphrase)
            if self._passphrase
            else serialization.NoEncryption()
        )
        pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        self._atomic_write(f"{kid}.pem", pem)
        records = [*records, KeyRecord(kid, alg, _utc(self._clock()), False)]
        self._write_manifest(records)
        log.info("generated signing key kid=%s alg=%s in %s", kid, alg, self.path)
        return records

    def _keyring(self, records: list[KeyRecord]) -> SigningKeyring:
        active = [r for r in records if not r.retired]
        if not active:
            raise KeyStateError(f"{self.path} has no active signing key")
        return SigningKeyring(self._load_key(r) for r in active)

    def _load_key(self, record: KeyRecord) -> SigningKey:
        file = self.path / f"{record.kid}.pem"
        try:
            data = file.read_bytes()
            mode = os.stat(file).st_mode
        except FileNotFoundError as exc:
            raise KeyStateError(f"key file for kid {record.kid} is missing") from exc
        if os.name == "posix" and mode & 0o077:
            log.warning("key file %s is accessible by group or others; expected mode 0600", file)
        try:
            private_key = serialization.load_pem_private_key(data, password=self._passphrase)
        except (ValueError, TypeError) as exc:
            raise KeyStateError(f"key file for kid {record.kid} cannot be loaded (wrong passphrase?)") from exc
        if jwk_thumbprint(private_key) != record.kid:
            raise KeyStateError(f"key file for kid {record.kid} holds a different key")
        try:
            return SigningKey(record.kid, private_key, record.alg, record.created_at)  # type: ignore[arg-type]
        except ValueError as exc:
            raise KeyStateError(f"key {record.kid} does not fit alg {record.alg}: {exc}") from exc

    def _atomic_write(self, name: str, data: bytes) -> None:
        tmp = self.path / f".{name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o600)  # exact mode, whatever the umask
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.path)


# --------------------------------------------------------------------------- platform helpers

try:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

    def _fsync_dir(path: Path) -> None:
        dfd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _lock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # retries for ~10 s, then raises
                return
            except OSError:
                continue

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

    def _fsync_dir(path: Path) -> None:
        return None
