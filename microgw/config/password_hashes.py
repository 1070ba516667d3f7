"""The stored text of a password hash: which formats exist, how they are written, what they may ask for.

Formats (``$``-separated, parameters inside the string so they can be raised later without breaking
stored hashes):

* ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>``: salt and hash are unpadded base64url.
* ``pbkdf2_sha256$<iterations>$<salt>$<hash>``: Django's layout, the salt used as its UTF-8 text,
  the hash standard base64.

Parameters are bounded (memory, iterations) so that a stored value cannot make one check take
gigabytes or minutes. Recognising and checking the text lives here, with the settings that hold it;
hashing and verifying live in :mod:`microgw.keys.passwords`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from microgw.jose.b64 import B64Error, b64url_decode

SCRYPT_PREFIX = "scrypt"
PBKDF2_PREFIX = "pbkdf2_sha256"

# Bounds on what a stored value may ask for.
_MIN_LOG2_N, _MAX_LOG2_N = 10, 20
_MAX_R, _MAX_P = 32, 16
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
_MIN_PBKDF2_ITERATIONS, _MAX_PBKDF2_ITERATIONS = 10_000, 10_000_000
_MIN_SALT_BYTES, _MIN_HASH_BYTES, _MAX_HASH_BYTES = 8, 16, 64


class HashFormatError(ValueError):
    """The stored text is not a hash this gateway can check; the message says why."""


@dataclass(frozen=True, slots=True)
class ScryptHash:
    log2_n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


@dataclass(frozen=True, slots=True)
class Pbkdf2Hash:
    iterations: int
    salt: bytes
    digest: bytes


def is_hashed(stored: str) -> bool:
    """Is a stored password one of our hash formats (else it is plain text, from ``{encoded}``)?"""
    return stored.startswith((SCRYPT_PREFIX + "$", PBKDF2_PREFIX + "$"))


def check_scrypt_params(log2_n: int, r: int, p: int) -> None:
    if not _MIN_LOG2_N <= log2_n <= _MAX_LOG2_N:
        raise HashFormatError(f"scrypt log2(N) must be between {_MIN_LOG2_N} and {_MAX_LOG2_N}")
    if not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
        raise HashFormatError(f"scrypt r must be 1..{_MAX_R} and p 1..{_MAX_P}")
    if 128 * r * (1 << log2_n) > _MAX_SCRYPT_MEMORY:
        raise HashFormatError("scrypt parameters need more than 256 MiB")


def _int(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise HashFormatError(f"{what} must be a decimal integer")
    return int(text)


def _digest_bytes(raw: bytes, what: str) -> bytes:
    if not _MIN_HASH_BYTES <= len(raw) <= _MAX_HASH_BYTES:
        raise HashFormatError(f"{what} must be {_MIN_HASH_BYTES}..{_MAX_HASH_BYTES} bytes")
    return raw


def parse_hash(stored: object) -> ScryptHash | Pbkdf2Hash:
    """The parameters of a stored hash; HashFormatError when the text is not one we can check."""
    if not isinstance(stored, str):
        raise HashFormatError("a password hash must be a string")
    parts = stored.split("$")
    if parts[0] == SCRYPT_PREFIX:
        if len(parts) != 6:
            raise HashFormatError("expected scrypt$<log2 N>$<r>$<p>$<salt>$<hash>")
        log2_n, r, p = _int(parts[1], "log2(N)"), _int(parts[2], "r"), _int(parts[3], "p")
        check_scrypt_params(log2_n, r, p)
        try:
            salt, digest = b64url_decode(parts[4]), b64url_decode(parts[5])
        except B64Error as exc:
            raise HashFormatError("scrypt salt and hash must be unpadded base64url") from exc
        if len(salt) < _MIN_SALT_BYTES:
            raise HashFormatError(f"salt must be at least {_MIN_SALT_BYTES} bytes")
        return ScryptHash(log2_n, r, p, salt, _digest_bytes(digest, "scrypt hash"))
    if parts[0] == PBKDF2_PREFIX:
        if len(parts) != 4:
            raise HashFormatError("expected pbkdf2_sha256$<iterations>$<salt>$<hash>")
        iterations = _int(parts[1], "iterations")
        if not _MIN_PBKDF2_ITERATIONS <= iterations <= _MAX_PBKDF2_ITERATIONS:
            raise HashFormatError(
                f"pbkdf2 iterations must be between {_MIN_PBKDF2_ITERATIONS} and {_MAX_PBKDF2_ITERATIONS}"
            )
        if not parts[2]:
            raise HashFormatError("pbkdf2 salt is empty")
        try:
            digest = base64.b64decode(parts[3], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HashFormatError("pbkdf2 hash must be standard base64") from exc
        return Pbkdf2Hash(iterations, parts[2].encode("utf-8"), _digest_bytes(digest, "pbkdf2 hash"))
    raise HashFormatError(f"unknown password hash scheme; expected {SCRYPT_PREFIX}$... or {PBKDF2_PREFIX}$...")


def check_hash_format(stored: object) -> str | None:
    """None when ``stored`` is a hash the gateway can check, else why not (for config errors)."""
    try:
        parse_hash(stored)
    except HashFormatError as exc:
        return str(exc)
    return None
