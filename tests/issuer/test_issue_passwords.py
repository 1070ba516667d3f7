"""keys/passwords.py and config/password_hashes.py: scrypt and pbkdf2 hashes, malformed values, constant-time plain compare."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgw.config.password_hashes import check_hash_format
from microgw.keys.passwords import (
    dummy_verify,
    hash_password,
    verify_password,
    verify_password_async,
    verify_plain,
)
from microgw.jose.b64 import b64url_encode

FAST = {"log2_n": 10, "r": 8, "p": 1}  # tests only; production default is log2_n=15


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password("s3cret-pässword", **FAST)


def test_round_trip_and_wrong_password(stored):
    assert verify_password("s3cret-pässword", stored)
    assert not verify_password("s3cret-passwörd", stored)
    assert not verify_password("", stored)
    assert check_hash_format(stored) is None


def test_format_and_fresh_salt():
    a, b = hash_password("pw", **FAST), hash_password("pw", **FAST)
    assert a != b  # per-hash random salt
    parts = a.split("$")
    assert parts[:4] == ["scrypt", "10", "8", "1"] and len(parts) == 6


def test_production_defaults_are_slow_parameters():
    stored = hash_password("pw")
    assert stored.startswith("scrypt$15$8$1$")
    assert verify_password("pw", stored)


def test_hash_refuses_weak_parameters():
    with pytest.raises(ValueError):
        hash_password("pw", log2_n=4)


def _pbkdf2(password: str, salt: str, iterations: int) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def test_pbkdf2_format():
    stored = _pbkdf2("letmein", "seasalt", 10_000)
    assert check_hash_format(stored) is None
    assert verify_password("letmein", stored)
    assert not verify_password("letmeout", stored)


def _scrypt_text(password: str, log2_n: int, r: int, p: int) -> str:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=1 << log2_n, r=r, p=p, dklen=32)
    return f"scrypt${log2_n}${r}${p}${b64url_encode(salt)}${b64url_encode(digest)}"


def test_independently_computed_scrypt_verifies():
    assert verify_password("pw", _scrypt_text("pw", 10, 4, 2))


GOOD_SALT, GOOD_HASH = b64url_encode(b"s" * 16), b64url_encode(b"h" * 32)
MALFORMED = [
    None,
    123,
    b"scrypt$10$8$1$x$y",
    "",
    "plain-password",
    "{encoded}bWFuYWdl",
    "scrypt",
    "scrypt$10$8$1$" + GOOD_SALT,
    f"scrypt$10$8$1${GOOD_SALT}${GOOD_HASH}$extra",
    f"scrypt$99$8$1${GOOD_SALT}${GOOD_HASH}",  # N far too large
    f"scrypt$4$8$1${GOOD_SALT}${GOOD_HASH}",  # N too small
    f"scrypt$20$32$1${GOOD_SALT}${GOOD_HASH}",  # 4 GiB of memory
    f"scrypt$10$0$1${GOOD_SALT}${GOOD_HASH}",
    f"scrypt$10$8$99${GOOD_SALT}${GOOD_HASH}",
    f"scrypt$-1$8$1${GOOD_SALT}${GOOD_HASH}",
    f"scrypt$ 10$8$1${GOOD_SALT}${GOOD_HASH}",
    f"scrypt$１０$8$1${GOOD_SALT}${GOOD_HASH}",  # full-width digits
    f"scrypt$10$8$1$!!!!${GOOD_HASH}",
    f"scrypt$10$8$1${GOOD_SALT}$={GOOD_HASH}",
    f"scrypt$10$8$1$YWJj${GOOD_HASH}",  # salt too short
    f"scrypt$10$8$1${GOOD_SALT}$YWJj",  # hash too short
    "pbkdf2_sha256$100$salt$" + base64.b64encode(b"h" * 32).decode(),  # too few iterations
    "pbkdf2_sha256$abc$salt$" + base64.b64encode(b"h" * 32).decode(),
    "pbkdf2_sha256$10000$$" + base64.b64encode(b"h" * 32).decode(),
    "pbkdf2_sha256$10000$salt$not-base64!",
    "pbkdf2_sha256$10000$salt",
    "md5$abc$def",
    "SCRYPT$10$8$1$" + GOOD_SALT + "$" + GOOD_HASH,
]


@pytest.mark.parametrize("stored", MALFORMED)
def test_malformed_stored_values_are_false_with_a_reason(stored):
    assert verify_password("pw", stored) is False  # type: ignore[arg-type]
    reason = check_hash_format(stored)
    assert isinstance(reason, str) and reason
    assert "pw" != reason


def test_non_string_password_is_false(stored):
    assert verify_password(None, stored) is False  # type: ignore[arg-type]
    assert verify_password("\ud800", stored) is False  # lone surrogate cannot be UTF-8


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["", "scrypt$", "scrypt$10$8$1$", "pbkdf2_sha256$", "pbkdf2_sha256$10000$"]))
def test_verify_never_raises(tail, prefix):
    assert verify_password("pw", prefix + tail) in (True, False)


async def test_async_verification(stored):
    assert await verify_password_async("s3cret-pässword", stored)
    assert not await verify_password_async("nope", stored)


def test_dummy_verify_is_always_false():
    assert dummy_verify("anything") is False


def test_verify_plain():
    assert verify_plain("manage", "manage")
    assert not verify_plain("manage", "manager")
    assert not verify_plain("", "x")
    assert verify_plain("pässwörd", "pässwörd")
    assert not verify_plain(None, "x")  # type: ignore[arg-type]
