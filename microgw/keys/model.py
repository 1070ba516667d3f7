"""What a verification key is, independent of where it came from (JWKS, certificate, shared secret).

Verification (``microgw.tokens``) only ever sees :class:`VerifyKey` objects handed out by a
:class:`KeySource`; it never reads a key from the token itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Union

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, ed448, rsa

from microgw.jose.algorithms import EC_ALGS_BY_CURVE, EDDSA_ALGS, HMAC_ALGS, RSA_ALGS

PublicKey = Union[rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey]


def algorithms_for(key: PublicKey | bytes) -> frozenset[str]:
    """The JWA algorithms that fit a key's type (and curve); nothing else may be verified with it."""
    if isinstance(key, (bytes, bytearray)):
        return HMAC_ALGS
    if isinstance(key, rsa.RSAPublicKey):
        return RSA_ALGS
    if isinstance(key, ec.EllipticCurvePublicKey):
        return EC_ALGS_BY_CURVE.get(key.curve.name, frozenset())
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return EDDSA_ALGS
    return frozenset()


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """A key that may verify signatures.

    ``algs`` is the set of algorithms allowed with this key: the intersection of what fits its type,
    what its JWK ``alg`` says (if any) and what the configuration allows. ``source`` names where it
    came from (for logs and for binding cached results); it never contains key material.
    """

    kid: str | None
    key: PublicKey | bytes = field(repr=False)  # HMAC secrets must never reach a log line
    algs: frozenset[str]
    source: str


class KeySource(Protocol):
    """Where an auth server's keys come from."""

    def candidates(self, kid: str | None, alg: str) -> list[VerifyKey]:
        """Keys that may verify a token with this ``kid`` (None: all) and ``alg``; may be empty."""
        ...

    async def refresh_for_unknown_kid(self, kid: str) -> bool:
        """Ask the source to look again because a token named an unknown kid.

        Returns True when new keys may have arrived. Remote sources rate-limit this (single-flight
        plus cooldown); local sources return False at once.
        """
        ...
