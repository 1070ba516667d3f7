"""Attack: a flood of wrong Basic credentials (for a real user and for made-up names) against the
token endpoint must not stop a real user's first login from another client."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
import jwt

from microgw.keys import passwords

TOKEN_PATH = "/rest/pub/apigateway/jwt/getJsonWebToken"


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_a_flood_of_wrong_passwords_does_not_lock_out_the_real_user(gateway):
    gw = await gateway({
        "issuer": {"issuer": "flood-test", "https_only": False},
        "users": [{"name": "alice", "password": passwords.hash_password("alice-pw")}],  # real scrypt cost
        "apis": [{"name": "m", "version": "1", "mock": {}}],
    })
    url = f"{gw.http}{TOKEN_PATH}"
    attacker = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True))
    owner = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)))  # another client
    try:
        async def guess(i: int) -> tuple[int, str]:
            user = "alice" if i % 2 else f"nobody{i}"
            async with attacker.get(url, headers=basic(user, f"guess{i}")) as resp:
                return resp.status, (await resp.json()).get("code", "")

        flood = [asyncio.ensure_future(guess(i)) for i in range(300)]
        await asyncio.sleep(0)  # the flood is on its way before the owner's first login
        started = asyncio.get_running_loop().time()
        async with owner.get(url, headers=basic("alice", "alice-pw")) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["jwt"]
        waited = asyncio.get_running_loop().time() - started
        assert jwt.decode(token, options={"verify_signature": False})["sub"] == "alice"
        assert waited < 5, waited  # one client's guesses delay another by a few checks at most
        seen = await asyncio.gather(*flood)
    finally:
        await attacker.close()
        await owner.close()
    statuses = {status for status, _ in seen}
    assert statuses <= {401, 429, 503}  # never a token, never a 500
    codes = {code for _, code in seen}
    assert "too_many_checks" in codes  # most of the flood was turned away at once, not queued
    assert sum(1 for status, _ in seen if status == 401) < 60
