"""UserDirectory: correct answers, equal cost for unknown names, bounded concurrency, success cache."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from microgw.errors import GatewayError
from microgw.keys import passwords
from microgw.users import UserDirectory

CHEAP = passwords.hash_password("s3cret", log2_n=10)  # the lowest cost the verifier accepts: fast tests


@pytest.fixture
def counted(monkeypatch):
    """Count (and optionally slow down) the real hashed checks and dummy checks."""
    calls = {"verify": 0, "dummy": 0, "active": 0, "peak": 0, "delay": 0.0}
    lock = threading.Lock()
    real_verify, real_dummy = passwords.verify_password, passwords.dummy_verify

    def tracked(real):
        def run(*args):
            with lock:
                calls["active"] += 1
                calls["peak"] = max(calls["peak"], calls["active"])
            try:
                time.sleep(calls["delay"])
                return real(*args)
            finally:
                with lock:
                    calls["active"] -= 1

        return run

    def verify(password, stored):
        calls["verify"] += 1
        return tracked(real_verify)(password, stored)

    def dummy(password):
        calls["dummy"] += 1
        return tracked(real_dummy)(password)

    monkeypatch.setattr(passwords, "verify_password", verify)
    monkeypatch.setattr(passwords, "dummy_verify", dummy)
    return calls


async def test_plain_and_hashed_passwords():
    users = UserDirectory({"plain": "manage", "hashed": CHEAP}, warn_plain=False)
    assert await users.verify("plain", "manage")
    assert not await users.verify("plain", "Manage")
    assert not await users.verify("plain", "")
    assert await users.verify("hashed", "s3cret")
    assert not await users.verify("hashed", "wrong")
    assert not await users.verify("nobody", "manage")
    assert sorted(users.names()) == ["hashed", "plain"] and "plain" in users and len(users) == 2


async def test_pbkdf2_hash_is_accepted():
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 10_000)).decode()
    users = UserDirectory({"u": f"pbkdf2_sha256$10000$salt${digest}"})
    assert await users.verify("u", "pw") and not await users.verify("u", "px")


async def test_unknown_user_pays_a_dummy_check(counted):
    users = UserDirectory({"hashed": CHEAP})
    assert not await users.verify("nobody", "s3cret")
    assert counted["dummy"] == 1  # (the dummy check runs verify_password on a throwaway hash)


async def test_unknown_user_among_plain_users_costs_no_scrypt(counted):
    users = UserDirectory({"plain": "manage"}, warn_plain=False)
    assert not await users.verify("nobody", "manage")
    assert counted["dummy"] == 0  # a known plain user costs no scrypt either: same time


async def test_successes_are_cached_failures_are_not(counted):
    users = UserDirectory({"hashed": CHEAP})
    assert await users.verify("hashed", "s3cret")
    assert await users.verify("hashed", "s3cret")
    assert counted["verify"] == 1
    assert not await users.verify("hashed", "wrong")
    assert not await users.verify("hashed", "wrong")
    assert counted["verify"] == 3
    other = UserDirectory({"hashed": passwords.hash_password("s3cret", log2_n=10)})
    assert await other.verify("hashed", "s3cret")  # another stored value: never an old cache entry
    assert counted["verify"] == 4


async def test_cache_entries_expire_and_stay_bounded(counted):
    users = UserDirectory({"hashed": CHEAP}, cache_ttl=0.05, cache_size=1)
    assert await users.verify("hashed", "s3cret")
    await asyncio.sleep(0.08)
    assert await users.verify("hashed", "s3cret")
    assert counted["verify"] == 2
    assert len(users._cache) == 1


async def test_concurrency_is_bounded(counted):
    counted["delay"] = 0.05
    users = UserDirectory({"hashed": CHEAP}, concurrency=2)
    results = await asyncio.gather(*(users.verify("hashed", f"wrong{i}", client=f"10.0.0.{i}") for i in range(6)))  # 6 clients
    assert results == [False] * 6
    assert counted["peak"] == 2


async def test_too_many_waiting_checks_answer_503(counted):
    counted["delay"] = 0.1
    users = UserDirectory({"hashed": CHEAP}, concurrency=1, max_waiting=2)
    results = await asyncio.gather(*(users.verify("hashed", f"w{i}") for i in range(4)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, GatewayError)]
    assert len(refused) == 2 and refused[0].status == 503 and refused[0].headers == {"Retry-After": "1"}
    assert await users.verify("hashed", "s3cret")  # the queue drained: checks work again


def test_plain_passwords_warn_once_and_nothing_leaks(caplog):
    with caplog.at_level(logging.WARNING, logger="microgw.users"):
        users = UserDirectory({"Administrator": "manage", "hashed": CHEAP})
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "Administrator" in warnings[0] and "for trying only" in warnings[0]
    assert "manage" not in warnings[0].replace("Administrator", "")
    assert "manage" not in repr(users) and CHEAP not in repr(users)


async def test_one_client_cannot_queue_more_than_its_share(counted):
    counted["delay"] = 0.05
    users = UserDirectory({"hashed": CHEAP}, concurrency=1, per_client=2)
    results = await asyncio.gather(*(users.verify("hashed", f"w{i}", client="flood") for i in range(5)), return_exceptions=True)
    assert sum(1 for r in results if isinstance(r, GatewayError) and r.status == 429) == 3
    assert await users.verify("hashed", "s3cret", client="someone-else")


async def test_backoff_is_per_user_and_client(counted):
    users = UserDirectory({"hashed": CHEAP}, backoff_after=2, backoff_max=30)
    for _ in range(2):
        assert not await users.verify("hashed", "wrong", client="attacker")
    with pytest.raises(GatewayError) as refused:
        await users.verify("hashed", "s3cret", client="attacker")  # even the right password waits
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "1"
    assert await users.verify("hashed", "s3cret", client="owner")  # the real user elsewhere is not slowed
