"""Gateway users' passwords: slow salted hashes, constant-time checks.

Formats (``$``-separated, parameters inside the string so they can be raised later without breaking
stored hashes):

* ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`` — what :func:`hash_password` writes. Salt (16 random
  bytes) and hash (32 bytes) are unpadded base64url. Default N=2**15, r=8, p=1: 32 MiB and roughly
  50-150 ms per check, on purpose.
* ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` — verified for compatibility with hashes made by
  other tools, in Django's layout: the salt is used as its UTF-8 text, the hash is standard base64.

Verification is CPU-heavy and releases the GIL: callers on the event loop must use
:func:`verify_password_async` (or their own executor), and should bound how many run at once.
Parameters are bounded when verifying (memory, iterations) so that a stored value cannot make one
check take gigabytes or minutes. :func:`verify_password` never raises on a malformed stored value,
it answers False; :func:`check_hash_format` tells configuration validation what is wrong.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from concurrent.futures import Executor
from dataclasses import dataclass

from microgw.tokens.b64 import B64Error, b64url_decode, b64url_encode

SCRYPT_PREFIX = "scrypt"
PBKDF2_PREFIX = "pbkdf2_sha256"


def is_hashed(stored: str) -> bool:
    """Is a stored password one of our hash formats (else it is plain text, from ``{encoded}``)?"""
    return stored.startswith((SCRYPT_PREFIX + "$", PBKDF2_PREFIX + "$"))

DEFAULT_LOG2_N = 15
DEFAULT_R = 8
DEFAULT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32

# Bounds on what a stored value may ask for.
_MIN_LOG2_N, _MAX_LOG2_N = 10, 20
_MAX_R, _MAX_P = 32, 16
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
_MIN_PBKDF2_ITERATIONS, _MAX_PBKDF2_ITERATIONS = 10_000, 10_000_000
_MIN_SALT_BYTES, _MIN_HASH_BYTES, _MAX_HASH_BYTES = 8, 16, 64


class _FormatError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class _Scrypt:
    log2_n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def derive(self, password: bytes) -> bytes:
        return _scrypt(password, self.salt, self.log2_n, self.r, self.p, len(self.digest))


@dataclass(frozen=True, slots=True)
class _Pbkdf2:
    iterations: int
    salt: bytes
    digest: bytes

    def derive(self, password: bytes) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", password, self.salt, self.iterations, len(self.digest))


def _scrypt(password: bytes, salt: bytes, log2_n: int, r: int, p: int, dklen: int) -> bytes:
    n = 1 << log2_n
    maxmem = 128 * r * (n + p + 2) + (1 << 20)  # OpenSSL's own estimate plus slack
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)


def _check_scrypt_params(log2_n: int, r: int, p: int) -> None:
    if not _MIN_LOG2_N <= log2_n <= _MAX_LOG2_N:
        raise _FormatError(f"scrypt log2(N) must be between {_MIN_LOG2_N} and {_MAX_LOG2_N}")
    if not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
        raise _FormatError(f"scrypt r must be 1..{_MAX_R} and p 1..{_MAX_P}")
    if 128 * r * (1 << log2_n) > _MAX_SCRYPT_MEMORY:
        raise _FormatError("scrypt parameters need more than 256 MiB")


def _int(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise _FormatError(f"{what} must be a decimal integer")
    return int(text)


def _digest_bytes(raw: bytes, what: str) -> bytes:
    if not _MIN_HASH_BYTES <= len(raw) <= _MAX_HASH_BYTES:
        raise _FormatError(f"{what} must be {_MIN_HASH_BYTES}..{_MAX_HASH_BYTES} bytes")
    return raw


def _parse(stored: object) -> _Scrypt | _Pbkdf2:
    if not isinstance(stored, str):
        raise _FormatError("a password hash must be a string")
    parts = stored.split("$")
    if parts[0] == SCRYPT_PREFIX:
        if len(parts) != 6:
            raise _FormatError("expected scrypt$<log2 N>$<r>$<p>$<salt>$<hash>")
        log2_n, r, p = _int(parts[1], "log2(N)"), _int(parts[2], "r"), _int(parts[3], "p")
        _check_scrypt_params(log2_n, r, p)
        try:
            salt, digest = b64url_decode(parts[4]), b64url_decode(parts[5])
        except B64Error as exc:
            raise _FormatError("scrypt salt and hash must be unpadded base64url") from exc
        if len(salt) < _MIN_SALT_BYTES:
            raise _FormatError(f"salt must be at least {_MIN_SALT_BYTES} bytes")
        return _Scrypt(log2_n, r, p, salt, _digest_bytes(digest, "scrypt hash"))
    if parts[0] == PBKDF2_PREFIX:
        if len(parts) != 4:
            raise _FormatError("expected pbkdf2_sha256$<iterations>$<salt>$<hash>")
        iterations = _int(parts[1], "iterations")
        if not _MIN_PBKDF2_ITERATIONS <= iterations <= _MAX_PBKDF2_ITERATIONS:
            raise _FormatError(
                f"pbkdf2 iterations must be between {_MIN_PBKDF2_ITERATIONS} and {_MAX_PBKDF2_ITERATIONS}"
            )
        if not parts[2]:
            raise _FormatError("pbkdf2 salt is empty")
        try:
            digest = base64.b64decode(parts[3], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _FormatError("pbkdf2 hash must be standard base64") from exc
        return _Pbkdf2(iterations, parts[2].encode("utf-8"), _digest_bytes(digest, "pbkdf2 hash"))
    raise _FormatError(f"unknown password hash scheme; expected {SCRYPT_PREFIX}$... or {PBKDF2_PREFIX}$...")


def hash_password(password: str, *, log2_n: int = DEFAULT_LOG2_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """A new ``scrypt$...`` hash with a fresh random salt. Lower the cost only in tests."""
    _check_scrypt_params(log2_n, r, p)
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password.encode("utf-8"), salt, log2_n, r, p, _HASH_BYTES)
    return f"{SCRYPT_PREFIX}${log2_n}${r}${p}${b64url_encode(salt)}${b64url_encode(digest)}"


def check_hash_format(stored: object) -> str | None:
    """None when ``stored`` is a hash :func:`verify_password` can check, else why not (for config errors)."""
    try:
        _parse(stored)
    except _FormatError as exc:
        return str(exc)
    return None


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; False for any malformed input."""
    try:
        parsed = _parse(stored)
        candidate = parsed.derive(password.encode("utf-8"))
    except (ValueError, TypeError, AttributeError, MemoryError, OverflowError):
        return False
    return hmac.compare_digest(candidate, parsed.digest)


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def dummy_verify(password: str) -> bool:
    """Spend the time of a real check and answer False: use it for unknown users so that response
    times do not reveal which user names exist."""
    verify_password(password, _dummy_hash())
    return False


async def verify_password_async(password: str, stored: str, *, executor: Executor | None = None) -> bool:
    """:func:`verify_password` in an executor (the default one unless given), off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, verify_password, password, stored)


def verify_plain(password: str, expected: str) -> bool:
    """Constant-time equality of two plain passwords (the config's ``{encoded}`` values, decoded).

    Both sides are hashed first so that neither the content nor the length leaks through timing.
    """
    if not isinstance(password, str) or not isinstance(expected, str):
        return False
    a = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
    b = hashlib.sha256(expected.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(a, b)
