"""The issuer's command line: hash-password, keys list/add/retire with a running gateway, token."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import time

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from microgw.keys.passwords import verify_password
from microgw.keys.publish import jwk_thumbprint
from support import basic_auth
from support.gateway import REPO, run_microgw, write_config

CONFIG = {
    "issuer": {"issuer": "rotating-issuer", "https_only": False},
    "users": [{"name": "Administrator", "password": "{encoded}bWFuYWdl"}],
    "apis": [{"name": "hello", "version": "1.0", "policies": {"jwt": {}}, "mock": {"status": 200, "json": {}}}],
}


async def token_of(client, base: str) -> str:
    url = f"{base}/rest/pub/apigateway/jwt/getJsonWebToken"
    async with client.get(url, headers=basic_auth("Administrator", "manage")) as resp:
        assert resp.status == 200
        return (await resp.json())["jwt"]


async def status_with(client, base: str, token: str) -> int:
    async with client.get(f"{base}/gateway/hello/1.0/", headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status


async def published(client, base: str) -> list[str]:
    async with client.get(f"{base}/rest/pub/apigateway/jwt/certs") as resp:
        return [key["kid"] for key in (await resp.json())["keys"]]


def kid_of(token: str) -> str:
    return pyjwt.get_unverified_header(token)["kid"]


def rows(output: str) -> dict[str, tuple[str, str]]:
    """kid -> (alg, status) from ``microgw keys`` output."""
    lines = output.strip().splitlines()
    assert lines[0].split() == ["KID", "ALG", "CREATED", "STATUS"]
    return {kid: (alg, status) for kid, alg, _created, status in (line.split() for line in lines[1:])}


async def test_rotation_add_reload_retire_restart(gateway, client, tmp_path, state_template):
    state = tmp_path / "state"
    shutil.copytree(state_template, state)
    env = {"mcgw_state_dir": str(state)}
    config = write_config(tmp_path, CONFIG, "rotating.yml")
    gw = await gateway(config, env=env)
    old = await token_of(client, gw.http)
    k1 = kid_of(old)

    code, out, err = await run_microgw("keys", "list", "-c", str(config), env=env)
    assert code == 0 and rows(out) == {k1: ("RS256", "signing")}
    code, out, err = await run_microgw("keys", "add", "-c", str(config), env=env)
    assert code == 0, err
    listed = rows(out)
    (k2,) = set(listed) - {k1}
    assert listed == {k1: ("RS256", "published"), k2: ("RS256", "signing")}
    assert "within seconds" in err

    # no reload needed: the gateway watches its key folder (every 5 s) and the new key signs
    new = await token_of(client, gw.http)
    deadline = time.monotonic() + 20
    while kid_of(new) != k2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        new = await token_of(client, gw.http)
    assert kid_of(new) == k2
    await gw.wait_for_log("managed signing keys reloaded")
    assert set(await published(client, gw.http)) == {k1, k2}
    assert await status_with(client, gw.http, old) == 200  # outstanding tokens still validate
    assert await status_with(client, gw.http, new) == 200

    code, out, err = await run_microgw("keys", "retire", k1, "-c", str(config), env=env)
    assert code == 0 and rows(out) == {k1: ("RS256", "retired"), k2: ("RS256", "signing")}
    deadline = time.monotonic() + 20
    while await status_with(client, gw.http, old) == 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # retired: its tokens stop once the gateway sees the folder change
    assert await status_with(client, gw.http, old) == 401
    assert await published(client, gw.http) == [k2]
    gw.proc.send_signal(signal.SIGHUP)  # a reload reads the same folder: nothing changes
    await gw.wait_for_log("settings applied")
    assert await status_with(client, gw.http, new) == 200
    await gw.stop()

    gw = await gateway(config, env=env)
    assert await published(client, gw.http) == [k2]
    assert await status_with(client, gw.http, old) == 401
    assert await status_with(client, gw.http, new) == 200
    assert kid_of(await token_of(client, gw.http)) == k2

    code, out, err = await run_microgw("keys", "retire", k2, "-c", str(config), env=env)
    assert code == 1 and "only active signing key" in err
    code, out, err = await run_microgw("keys", "retire", "-" + "x" * 42, "-c", str(config), env=env)  # kids may start with '-'
    assert code == 1 and "no managed key" in err
    assert "PRIVATE KEY" not in out + err


async def test_hash_password_from_stdin():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "microgw", "hash-password", "--password-stdin",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO),
    )
    out, err = await asyncio.wait_for(proc.communicate(b"correct horse\n"), 30)
    assert proc.returncode == 0, err
    stored = out.decode().strip()
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert verify_password("correct horse", stored) and not verify_password("correct horse\n", stored)


async def test_token_command_signs_what_pyjwt_verifies(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "demo.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    code, out, err = await run_microgw(
        "token", "--key", str(pem), "--issuer", "https://demo.test", "--claims", '{"sub": "alice", "roles": ["a"]}',
        "--claim", "name=srna", "--claim", "level=3", "--expires-in", "120",
    )
    assert code == 0, err
    token = out.strip()
    header = pyjwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": jwk_thumbprint(key), "typ": "JWT"}
    claims = pyjwt.decode(token, key.public_key(), algorithms=["RS256"], issuer="https://demo.test")
    assert claims["sub"] == "alice" and claims["roles"] == ["a"] and claims["name"] == "srna" and claims["level"] == 3
    assert claims["exp"] == claims["iat"] + 120 and claims["nbf"] == claims["iat"]

    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = tmp_path / "ec.pem"
    ec_pem.write_bytes(ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    code, out, err = await run_microgw("token", "--key", str(ec_pem), "--kid", "mine", "--claim", "sub=bob")
    assert code == 0, err
    assert pyjwt.get_unverified_header(out.strip())["kid"] == "mine"
    assert pyjwt.decode(out.strip(), ec_key.public_key(), algorithms=["ES256"])["sub"] == "bob"

    for args in (("--claims", "[1]"), ("--claim", "novalue"), ("--alg", "RS256")):
        code, out, err = await run_microgw("token", "--key", str(ec_pem), *args)
        assert code == 1 and err.startswith("microgw token:"), args
    code, out, err = await run_microgw("token", "--key", str(tmp_path / "missing.pem"))
    assert code == 1 and "missing.pem" in err
