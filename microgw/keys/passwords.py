"""Gateway users' passwords: slow salted hashes, constant-time checks.

:func:`hash_password` writes ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`` (salt 16 random bytes, hash
32 bytes; default N=2**15, r=8, p=1: 32 MiB and roughly 50-150 ms per check, on purpose);
``pbkdf2_sha256$...`` hashes made by other tools are verified too. The stored text's formats and
their bounds are :mod:`microgw.config.password_hashes`.

Verification is CPU-heavy and releases the GIL: callers on the event loop must use
:func:`verify_password_async` (or their own executor), and should bound how many run at once.
:func:`verify_password` never raises on a malformed stored value, it answers False.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
from concurrent.futures import Executor

from microgw.config.password_hashes import SCRYPT_PREFIX, Pbkdf2Hash, ScryptHash, check_scrypt_params, parse_hash
from microgw.jose.b64 import b64url_encode

DEFAULT_LOG2_N = 15
DEFAULT_R = 8
DEFAULT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32


def _scrypt(password: bytes, salt: bytes, log2_n: int, r: int, p: int, dklen: int) -> bytes:
    n = 1 << log2_n
    maxmem = 128 * r * (n + p + 2) + (1 << 20)  # OpenSSL's own estimate plus slack
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)


def _derive(parsed: ScryptHash | Pbkdf2Hash, password: bytes) -> bytes:
    if isinstance(parsed, ScryptHash):
        return _scrypt(password, parsed.salt, parsed.log2_n, parsed.r, parsed.p, len(parsed.digest))
    return hashlib.pbkdf2_hmac("sha256", password, parsed.salt, parsed.iterations, len(parsed.digest))


def hash_password(password: str, *, log2_n: int = DEFAULT_LOG2_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """A new ``scrypt$...`` hash with a fresh random salt. Lower the cost only in tests."""
    check_scrypt_params(log2_n, r, p)
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password.encode("utf-8"), salt, log2_n, r, p, _HASH_BYTES)
    return f"{SCRYPT_PREFIX}${log2_n}${r}${p}${b64url_encode(salt)}${b64url_encode(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; False for any malformed input."""
    try:
        parsed = parse_hash(stored)
        candidate = _derive(parsed, password.encode("utf-8"))
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
