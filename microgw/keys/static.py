"""Keys fixed by the configuration: truststore certificates, public keys, shared HMAC secrets.

Key policy shared with :mod:`microgw.keys.jwks`:

* RSA keys shorter than :data:`MIN_RSA_BITS` (2048, NIST SP 800-131A) are refused.
* ``VerifyKey.algs`` = algorithms that fit the key type ∩ the configured allowed set (if any).
* HMAC secrets: empty is refused; shorter than the hash output of the algorithm (RFC 7518 §3.2:
  32 bytes for HS256) is *accepted with a warning* because the vendor's configurations carry short
  base64 secrets (``bWFuYWdl`` = ``manage``) that existing clients sign with. The warning names the
  source and the length, never the secret.

Candidate rule (:class:`StaticKeySource` and the remote source share it, via :class:`KeyIndex`):
a token with a ``kid`` gets the keys with that exact kid first, then the keys that have no kid
(a certificate or a secret has none, yet the issuing gateway still puts its alias in ``kid``);
a token without ``kid`` gets every key whose ``algs`` contain its ``alg`` (Oathkeeper #362).
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from microgw.jose.algorithms import HMAC_ALGS
from microgw.keys.model import PublicKey, VerifyKey, algorithms_for

__all__ = ["MIN_RSA_BITS", "KeyIndex", "StaticKeySource", "public_verify_key", "KeyPolicyError"]

log = logging.getLogger(__name__)

MIN_RSA_BITS = 2048
_HMAC_MIN = {"HS256": 32, "HS384": 48, "HS512": 64}


class KeyPolicyError(ValueError):
    """A configured key is unusable (too weak, wrong type, no algorithm left)."""


def public_verify_key(
    key: PublicKey,
    *,
    kid: str | None,
    source: str,
    allowed_algs: Iterable[str] | None = None,
) -> VerifyKey:
    """Wrap a public key, pinning its algorithms to its type; KeyPolicyError if weak or unusable."""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise KeyPolicyError(f"{source}: RSA key of {key.key_size} bits is too short (minimum {MIN_RSA_BITS})")
    algs = algorithms_for(key)
    if allowed_algs is not None:
        algs = algs & frozenset(allowed_algs)
    if not algs:
        raise KeyPolicyError(f"{source}: no allowed algorithm fits this {type(key).__name__}")
    return VerifyKey(kid, key, algs, source)


class KeyIndex:
    """An immutable lookup (kid, alg) -> candidate keys, built once per key set."""

    __slots__ = ("keys", "_by_kid_alg", "_kidless", "_by_alg", "kids")

    def __init__(self, keys: Iterable[VerifyKey]) -> None:
        self.keys: tuple[VerifyKey, ...] = tuple(keys)
        by_kid_alg: dict[tuple[str, str], list[VerifyKey]] = {}
        kidless: dict[str, list[VerifyKey]] = {}
        by_alg: dict[str, list[VerifyKey]] = {}
        for k in self.keys:
            for alg in k.algs:
                by_alg.setdefault(alg, []).append(k)
                if k.kid is None:
                    kidless.setdefault(alg, []).append(k)
                else:
                    by_kid_alg.setdefault((k.kid, alg), []).append(k)
        self._by_kid_alg = {key: tuple(v) for key, v in by_kid_alg.items()}
        self._kidless = {key: tuple(v) for key, v in kidless.items()}
        self._by_alg = {key: tuple(v) for key, v in by_alg.items()}
        self.kids: frozenset[str] = frozenset(k.kid for k in self.keys if k.kid is not None)

    def candidates(self, kid: str | None, alg: str) -> list[VerifyKey]:
        if kid is None:
            return list(self._by_alg.get(alg, ()))
        return [*self._by_kid_alg.get((kid, alg), ()), *self._kidless.get(alg, ())]


class StaticKeySource:
    """A :class:`~microgw.keys.model.KeySource` over keys that never change while running."""

    __slots__ = ("_index", "description", "candidates")

    def __init__(self, keys: Iterable[VerifyKey], description: str = "static keys") -> None:
        self._index = KeyIndex(keys)
        self.description = description
        # KeySource.candidates(kid, alg): bound straight to the index, one call less per token.
        self.candidates = self._index.candidates

    @property
    def keys(self) -> tuple[VerifyKey, ...]:
        return self._index.keys

    async def refresh_for_unknown_kid(self, kid: str) -> bool:
        return False

    def __repr__(self) -> str:
        return f"StaticKeySource({self.description!r}, {len(self._index.keys)} keys)"

    # --- constructors ----------------------------------------------------------------------------

    @classmethod
    def from_certificate(
        cls,
        cert: x509.Certificate,
        *,
        source: str = "certificate",
        kid: str | None = None,
        allowed_algs: Iterable[str] | None = None,
    ) -> "StaticKeySource":
        """The public key of a truststore certificate (the ``certificateAlias`` case).

        Validity dates are not enforced (the certificate is a key container here, as in the vendor's
        product), but an expired certificate is logged once so operators notice.
        """
        now = _dt.datetime.now(_dt.timezone.utc)
        if cert.not_valid_after_utc < now:
            log.warning("%s: certificate expired on %s; its key is still used", source, cert.not_valid_after_utc.date())
        try:
            public = cert.public_key()
        except Exception as exc:  # unsupported key type in the certificate
            raise KeyPolicyError(f"{source}: unsupported certificate key ({exc.__class__.__name__})") from None
        return cls([public_verify_key(public, kid=kid, source=source, allowed_algs=allowed_algs)], source)  # type: ignore[arg-type]

    @classmethod
    def from_public_key(
        cls, key: PublicKey, *, source: str = "public key", kid: str | None = None, allowed_algs: Iterable[str] | None = None
    ) -> "StaticKeySource":
        return cls([public_verify_key(key, kid=kid, source=source, allowed_algs=allowed_algs)], source)

    @classmethod
    def from_hmac_secret(
        cls,
        secret: bytes,
        *,
        source: str = "shared secret",
        kid: str | None = None,
        allowed_algs: Iterable[str] | None = None,
    ) -> "StaticKeySource":
        """A shared secret for HS256/384/512; empty is refused, short is accepted with a warning."""
        if not isinstance(secret, (bytes, bytearray)):
            raise KeyPolicyError(f"{source}: an HMAC secret must be bytes")
        if not secret:
            raise KeyPolicyError(f"{source}: the HMAC secret is empty")
        algs = HMAC_ALGS if allowed_algs is None else HMAC_ALGS & frozenset(allowed_algs)
        if not algs:
            raise KeyPolicyError(f"{source}: no allowed algorithm fits an HMAC secret")
        weak = sorted(a for a in algs if len(secret) < _HMAC_MIN[a])
        if weak:
            log.warning(
                "%s: HMAC secret of %d bytes is shorter than RFC 7518 requires for %s; use a longer random secret",
                source, len(secret), ", ".join(weak),
            )
        return cls([VerifyKey(kid, bytes(secret), frozenset(algs), source)], source)
